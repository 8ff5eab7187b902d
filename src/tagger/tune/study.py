"""Running a study: storage, sampler and pruner; the trial loop; Ctrl-C; outputs at the end."""

import signal
import sys
import time
from argparse import ArgumentError
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import optuna
from optuna.trial import TrialState

from tagger.errors import TaggerError
from tagger.tune.objective import Objective, build
from tagger.tune.report import write_outputs
from tagger.tune.search_space import example_values, load_search_space
from tagger.tune.storage import check_database
from tagger.tune.tracking import Tracking, redact

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class TuneOptions:
    n_trials: int = 50
    study_name: str = "tagger"
    storage: str = "sqlite:///optuna.db"
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    timeout: float | None = None
    seed: int = 42
    search_space: str = "configs/search_space.yaml"
    tracking_uri: str = "sqlite:///mlflow.db"
    output_dir: str | None = None

    @property
    def out(self) -> Path:
        return Path(self.output_dir or Path("studies") / self.study_name)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    return (
        optuna.samplers.RandomSampler(seed=seed)
        if name == "random"
        else optuna.samplers.TPESampler(seed=seed)
    )


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":  # the seed lesson's settings
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def open_study(opts: TuneOptions, pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """Create the study, or load it to resume: trials already in the storage count towards n_trials."""
    try:
        return optuna.create_study(
            study_name=opts.study_name,
            storage=opts.storage,
            direction="maximize",
            sampler=make_sampler(opts.sampler, opts.seed),
            pruner=pruner or make_pruner(opts.pruner),
            load_if_exists=True,
        )
    except ValueError as err:  # e.g. an existing study with another direction
        raise TaggerError(f"study {opts.study_name!r} in {redact(opts.storage)}: {err}") from None
    except Exception as err:  # drivers raise their own types for an unreachable or unusable database
        first = redact(str(err)).strip().splitlines()[0]
        raise TaggerError(
            f"cannot open Optuna storage {redact(opts.storage)}: {first}; check --storage"
        ) from None


class StopRequest:
    """First Ctrl-C: end the running trial at the next batch (FAILED), write the outputs, exit.

    A second Ctrl-C interrupts at once.
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("stopping at the next batch (Ctrl-C again to stop at once) ...", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopRequest":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """One line per finished trial."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = max(done, key=lambda t: t.value) if done else None
    value = "-" if trial.value is None else f"{trial.value:.4f}"
    best_text = "-" if best is None else f"{best.value:.4f} (trial {best.number})"
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    print(
        f"trial {trial.number:>3} {trial.state.name:<8} value={value} best={best_text} "
        f"{seconds:.1f}s {trial.user_attrs.get('epochs', '?')} epochs",
        flush=True,
    )


def run_trials(study: optuna.Study, objective: Objective, opts: TuneOptions, stop: StopRequest) -> None:
    """Run trials until the study holds n_trials finished (complete or pruned) ones, or time is up."""
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    while not stop.requested:
        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        if finished >= opts.n_trials or (deadline and time.monotonic() >= deadline):
            return
        if failed >= max(opts.n_trials, 3):
            raise TaggerError(f"{failed} trials failed; see the trials' fail reasons in MLflow or trials.csv")
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[progress])


def run_study(
    opts: TuneOptions, base_args: list[str], pruner: optuna.pruners.BasePruner | None = None
) -> optuna.Study:
    """Validate everything, then run trials; outputs are written even when stopped by Ctrl-C."""
    space = load_search_space(opts.search_space)
    try:  # unknown keys, bad values or unreadable data fail here, before any trial
        build(base_args, example_values(space))
    except ArgumentError as err:
        raise TaggerError(
            f"the fit config with the search space's keys does not parse: {err}; "
            f"check {opts.search_space} and the --config/--trainer.*/--model.*/--data.* arguments"
        ) from None
    check_database(opts.tracking_uri, "--tracking-uri / $MLFLOW_TRACKING_URI")
    check_database(opts.storage, "--storage")
    tracking = Tracking(opts.tracking_uri, experiment=opts.study_name)
    study = open_study(opts, pruner)
    tracking.open_parent(
        study, tags={"optuna.study_name": opts.study_name, "optuna.storage": redact(opts.storage)}
    )
    stop = StopRequest()
    objective = Objective(base_args, space, tracking, opts.out, stop_requested=stop)
    start, status = time.perf_counter(), "FINISHED"
    print(
        f"study {opts.study_name!r} in {redact(opts.storage)}: {len(study.trials)} trials so far", flush=True
    )
    try:
        with stop:
            run_trials(study, objective, opts, stop)
        if stop.requested:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        write_outputs(study, opts.out, base_args, tracking, opts.storage, time.perf_counter() - start)
        tracking.close_parent(status)
        print(f"outputs in {opts.out}", flush=True)
    return study
