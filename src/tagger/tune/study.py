"""Running a study: storage, sampler and pruner; workers and the trial loop; Ctrl-C; outputs at the end."""

import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentError
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import optuna
import sqlalchemy
import torch
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tagger.errors import TaggerError
from tagger.tune.objective import Objective, build
from tagger.tune.report import best_trial, write_outputs
from tagger.tune.search_space import example_values, load_search_space
from tagger.tune.storage import (
    Admission,
    StaleTrials,
    check_database,
    fail_dead_local_trials,
    make_storage,
)
from tagger.tune.tracking import Tracking, redact, retry_racing

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
STORAGE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)


@dataclass
class TuneOptions:
    n_trials: int = 50
    study_name: str = "tagger"
    storage: str = "journal:optuna.journal"  # a file that several local workers can share safely
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    timeout: float | None = None
    seed: int = 42
    search_space: str = "configs/search_space.yaml"
    tracking_uri: str = "sqlite:///mlflow.db"
    output_dir: str | None = None
    workers: int = 1
    threads: int | None = None  # torch threads per worker; default: cores / workers
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retries: int = 2
    role: Literal["main", "worker"] = "main"  # workers started by --workers skip set-up and outputs
    worker_index: int = 0  # offsets the sampler seed, or every worker would propose the same parameters

    @property
    def out(self) -> Path:
        return Path(self.output_dir or Path("studies") / self.study_name)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed) if name == "random" else optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":  # the seed lesson's settings
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def open_study(
    opts: TuneOptions, storage: optuna.storages.BaseStorage, pruner: optuna.pruners.BasePruner | None = None
) -> optuna.Study:
    """Create the study, or load it to resume: trials already in the storage count towards n_trials."""
    try:
        return optuna.create_study(
            study_name=opts.study_name,
            storage=storage,
            direction="maximize",
            sampler=make_sampler(opts.sampler, opts.seed + opts.worker_index),
            pruner=pruner or make_pruner(opts.pruner),
            load_if_exists=True,
        )
    except ValueError as err:  # e.g. an existing study with another direction
        raise TaggerError(f"study {opts.study_name!r} in {redact(opts.storage)}: {err}") from None
    except Exception as err:  # drivers raise their own types for an unreachable or unusable database
        first = redact(str(err)).strip().splitlines()[0]
        raise TaggerError(f"cannot open Optuna storage {redact(opts.storage)}: {first}; check --storage") from None


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
    best = best_trial(study)
    if trial.state == TrialState.PRUNED:  # its value is the last val/ap it reported, not a validation F1
        value = f"- (val/ap {trial.value:.4f} when pruned)" if trial.value is not None else "-"
    else:
        value = "-" if trial.value is None else f"{trial.value:.4f}"
    best_text = "-" if best is None else f"{best.value:.4f} (trial {best.number})"
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    print(
        f"trial {trial.number:>3} {trial.state.name:<8} value={value} best={best_text} "
        f"{seconds:.1f}s {trial.user_attrs.get('epochs', '?')} epochs",
        flush=True,
    )


def run_trials(
    study: optuna.Study, objective: Objective, opts: TuneOptions, stop: StopRequest, stale: StaleTrials
) -> None:
    """Run trials until the study holds n_trials finished (complete or pruned) ones, or time is up.

    With several workers the count and the new trial are one step under the admission lock, so the study
    ends with exactly n_trials; a worker waits while the others' running trials would reach the count,
    since one of them may die and need a retry.
    """
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    gate = objective.admission
    while not stop.requested:
        gate.acquire()
        try:
            fail_dead_local_trials(study, stale)  # a dead local worker's trial, without waiting for heartbeats
            optuna.storages.fail_stale_trials(study)  # any worker's, once its heartbeat is stale (databases)
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state in FINISHED for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            failed = sum(t.state == TrialState.FAIL for t in trials)
            if finished >= opts.n_trials or (deadline and time.monotonic() >= deadline):
                return
            if failed >= max(2 * opts.n_trials, 3):
                raise TaggerError(f"{failed} trials failed; see their fail reasons in MLflow or trials.csv")
            if finished + running >= opts.n_trials:
                gate.release()
                time.sleep(min(opts.heartbeat_interval, 5))
                continue
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[progress])
        finally:
            gate.release()


def launch_workers(opts: TuneOptions, argv: list[str], stop: StopRequest) -> None:
    """Start opts.workers copies of this command as worker processes on the same study, and wait.

    Ctrl-C reaches every worker (one process group): each fails its running trial and stops.
    """
    threads = opts.threads or max(1, (os.cpu_count() or 1) // opts.workers)
    command = [sys.executable, "-m", "tagger.tune", *argv, "--workers", "1", "--role", "worker"]
    command += ["--threads", str(threads)]
    workers = [subprocess.Popen([*command, "--worker-index", str(i)]) for i in range(opts.workers)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        codes = [w.wait() for w in workers]
        raise
    if any(codes) and not stop.requested:
        raise TaggerError(f"worker exit codes {codes}; see their messages above")


def run_study(
    opts: TuneOptions,
    base_args: list[str],
    pruner: optuna.pruners.BasePruner | None = None,
    argv: list[str] | None = None,
) -> optuna.Study:
    """Validate everything, then run trials (here, or in --workers processes); outputs are written even
    when stopped by Ctrl-C. argv is the command line that worker processes repeat."""
    space = load_search_space(opts.search_space)
    if opts.role == "main":
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
    stale = StaleTrials(opts.max_retries, close_run=tracking.close_dead_trial)
    storage = make_storage(opts.storage, opts.workers, stale, opts.heartbeat_interval, opts.grace_period)
    study = retry_racing(lambda: open_study(opts, storage, pruner))
    admission = Admission(opts.storage, opts.study_name)
    admission.acquire()  # workers starting together must find one parent run, not create one each
    try:
        tags = {"optuna.study_name": opts.study_name, "optuna.storage": redact(opts.storage)}
        tracking.open_parent(study, tags=tags)
    finally:
        admission.release()
    tracking.reconcile(study)
    torch.set_num_threads(opts.threads or os.cpu_count() or 1)
    stop = StopRequest()
    retry = RetryHeartbeatStaleTrialCallback(max_retry=opts.max_retries)
    objective = Objective(base_args, space, tracking, opts.out, stop, admission, retry)
    start, status = time.perf_counter(), "FINISHED"
    print(f"study {opts.study_name!r} in {redact(opts.storage)}: {len(study.trials)} trials so far", flush=True)
    try:
        with stop:
            if opts.workers > 1:
                launch_workers(opts, argv or [], stop)
            else:
                run_trials(study, objective, opts, stop, stale)
        if stop.requested:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except Exception as err:
        lost = storage_error(err)
        if lost is None:
            raise
        status = "FAILED"
        raise TaggerError(
            f"lost the Optuna storage {redact(opts.storage)} ({redact(str(lost)).splitlines()[0]}); the trials that "
            "finished are stored there. Rerun the same command when it is reachable again to resume"
        ) from None
    finally:
        admission.close()
        if opts.role == "main":
            finish(study, opts, base_args, tracking, status, time.perf_counter() - start)
    return study


def storage_error(err: BaseException) -> BaseException | None:
    """The storage failure behind err, if any (Optuna can mask it with an error of its own while failing)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, STORAGE_ERRORS):
            return err.__cause__ if isinstance(err, optuna.exceptions.StorageInternalError) and err.__cause__ else err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def finish(study, opts: TuneOptions, base_args: list[str], tracking: Tracking, status: str, wall_s: float) -> None:
    """Outputs and closed runs; with the storage gone there is nothing to read them from, so say so."""
    try:
        tracking.reconcile(study)
        write_outputs(study, opts.out, base_args, tracking, opts.storage, wall_s)
        print(f"outputs in {opts.out}", flush=True)
    except STORAGE_ERRORS:
        print(f"outputs not written: {redact(opts.storage)} is unreachable", file=sys.stderr, flush=True)
    finally:
        tracking.close_parent(status)
