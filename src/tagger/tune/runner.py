"""Running a study: everything checked before the first trial, Optuna's own optimize loop (with callbacks for the
trial count, failures, stopping, progress and tracking), and at the end the hand-over and the report, also after
Ctrl-C."""

import json
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import optuna
import torch
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from tagger.baseline_model import yardstick
from tagger.errors import TaggerError
from tagger.files import unwritable
from tagger.fit_cli import build
from tagger.lineage import FIXED, fixed_settings
from tagger.redact import first_line
from tagger.registry import check_model_name
from tagger.tune.definition import DEFINITION_ATTR, check_definition, describe
from tagger.tune.handover import choose, hand_over
from tagger.tune.interrupt import StopRequest
from tagger.tune.noise import NOISE_ATTR, objective_noise
from tagger.tune.objective import TrialPlan, make_plan, objective, objective_name
from tagger.tune.objectives import OBJECTIVES
from tagger.tune.options import TuneOptions
from tagger.tune.ownership import check_owner, check_tracking_store, claim
from tagger.tune.progress import FINISHED, Progress, so_far
from tagger.tune.record import Outcome
from tagger.tune.report import StudyResult, write_report
from tagger.tune.search_space import load_search_space, load_start_points, searched_keys
from tagger.tune.storage import (
    STORAGE_ERRORS,
    Retry,
    StaleTrials,
    StorageURL,
    absolute,
    check_database,
    fail_dead_local_trials,
    failed_elsewhere,
    lost_storage,
    make_storage,
    retry_racing,
)
from tagger.tune.tracker import PARENT_ATTR, MlflowTracker, Tracker
from tagger.tune.trial_run import TrialRun
from tagger.tune.workers import die_with_parent, label_output, launch_workers

BASELINE_ATTR = "baseline"  # study user attribute: the baseline's test figures on the study's split


class TrialSeededSampler(BaseSampler):
    """TPE (or random) seeded by the study's seed and each trial's number: a study run in one go with a given seed
    reproduces, and a resumed study or another worker (other trial numbers) never proposes the same parameters
    again. TPE keeps no state but its random generator, so a fresh one per trial loses nothing."""

    def __init__(self, name: str, seed: int) -> None:
        self.name, self.seed = name, seed
        self._sampler = self._for(0)

    def _for(self, number: int) -> BaseSampler:
        seed = int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])
        return RandomSampler(seed=seed) if self.name == "random" else TPESampler(seed=seed)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler = self._for(trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler.after_trial(study, trial, state, values)


def make_pruner(name: str, cv: int = 1, objectives: int = 1) -> optuna.pruners.BasePruner:
    """Steps are epochs on a single split, folds with --cv (a trial reports after each fold): then a trial may be
    pruned after its first fold once two have completed (docs/tuning.md). Optuna prunes single-objective studies
    only: a multi-objective study runs every trial to its end."""
    if objectives > 1 or name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if cv == 1:  # the seed lesson's settings
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def open_study(
    opts: TuneOptions, storage: optuna.storages.BaseStorage, pruner: optuna.pruners.BasePruner | None
) -> optuna.Study:
    """The study, created or loaded: trials already in the storage count towards n_trials."""
    sampler = TrialSeededSampler(opts.sampler, opts.seed)
    pruner = pruner or make_pruner(opts.pruner, opts.cv, len(opts.objectives))
    try:
        directions = [OBJECTIVES[name].direction for name in opts.objectives]
        study = optuna.create_study(
            study_name=opts.study_name, storage=storage, directions=directions, sampler=sampler, pruner=pruner
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=opts.study_name, storage=storage, sampler=sampler, pruner=pruner)
    if study.metric_names is None and len(study.directions) == len(opts.objectives):  # for plots and the dashboard
        study.set_metric_names([OBJECTIVES[name].metric for name in opts.objectives])
    return study


class FailureCap:
    """Stops the study once this many of its trials have failed: a config that fails every trial fails fast."""

    def __init__(self, limit: int) -> None:
        self.limit, self.failed = limit, 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        if self.failed >= self.limit:
            study.stop()


def optimize(
    study: optuna.Study,
    run: Callable[[optuna.Trial], float | Sequence[float]],
    n_trials: int,
    timeout: float | None = None,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
) -> None:
    """Optuna's loop until the study holds n_trials finished (complete or pruned) trials, or time is up. Workers
    count the whole study's trials, so several of them may together run up to workers - 1 trials more."""
    if len(study.get_trials(deepcopy=False, states=FINISHED)) >= n_trials:
        return
    cap = FailureCap(max(2 * n_trials, 3))
    callbacks = [MaxTrialsCallback(n_trials, states=FINISHED), cap, *callbacks]
    study.optimize(run, timeout=timeout, catch=(Exception,), callbacks=callbacks)
    if cap.failed >= cap.limit:
        raise TaggerError(f"{cap.failed} trials failed; see their reasons in trials.csv (user_attrs_failed) or MLflow")


Objective = Callable[[optuna.Trial, TrialPlan, TrialRun], float | list[float]]


def run_study(
    opts: TuneOptions,
    base_args: list[str],
    pruner: optuna.pruners.BasePruner | None = None,
    argv: list[str] | None = None,
    trial_objective: Objective = objective,
) -> optuna.Study:
    """Check everything, then run trials (here, or in --workers processes); outputs are written even when stopped
    by Ctrl-C. argv is the command line that worker processes repeat; trial_objective, what a trial runs."""
    started = time.time()  # the study's wall time counts the set-up too
    if opts.parent_pid is not None:
        die_with_parent(opts.parent_pid)
    if opts.worker_number is not None:
        label_output(opts.worker_number)
    main = opts.role == "main"
    url, tracking_uri = StorageURL.parse(opts.storage), absolute(opts.tracking_uri)
    space = load_search_space(opts.search_space)
    plan = make_plan(base_args, space, opts.search_space, opts.cv, main, opts.objectives, opts.budget)
    if main:
        if opts.register_model:
            check_model_name(opts.register_model, "--register-model")
        check_database(tracking_uri, "--tracking-uri / $MLFLOW_TRACKING_URI")
        check_database(url.url, "--storage")
        check_owner(opts.out, tracking_uri, opts.study_name, url.absolute)
    stale = StaleTrials(opts.max_retries)
    storage = make_storage(url, opts.workers, stale, opts.heartbeat_interval, opts.grace_period)
    try:
        study = retry_racing(lambda: open_study(opts, storage, pruner), races=STORAGE_ERRORS)
    except STORAGE_ERRORS as err:  # an unreachable or unusable database
        raise TaggerError(f"cannot open Optuna storage {url}: {first_line(err)}; check --storage") from None
    defined_elsewhere = DEFINITION_ATTR in study.user_attrs  # by a process that creates the parent run next
    if main:
        directions = [OBJECTIVES[name].direction for name in opts.objectives]
        cost = ", ".join(OBJECTIVES[name].label for name in opts.objectives[1:])
        described = objective_name(opts.cv) + (f"; minimise {cost}" if cost else "")
        definition = describe(plan.config, {k: p.to_dict() for k, p in space.items()}, described, opts.budget.limits())
        check_definition(study, definition, directions, opts.allow_changes)
        check_tracking_store(study, tracking_uri)
        for point in load_start_points(opts.search_space):  # once: a resumed study has them already
            study.enqueue_trial(point, skip_if_exists=True)
        if reason := unwritable(opts.out):  # trials keep their checkpoints there
            raise TaggerError(f"cannot write to the output folder {opts.out} ({reason}); pick a writable --output-dir")
        if BASELINE_ATTR not in study.user_attrs:  # the yardstick of every summary, fitted once per study
            study.set_user_attr(BASELINE_ATTR, yardstick(build(base_args).datamodule))
    tracker = MlflowTracker(tracking_uri, experiment=opts.study_name)  # nothing tracked before this point
    if main:
        claim(opts.out, tracker, opts.study_name, url.absolute)
    stale.on_dead = tracker.end_trial
    deadline = time.monotonic() + 30
    while defined_elsewhere and PARENT_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.5)  # another process set this study up and is creating its parent run
    base = plan.parser.parse_args(plan.base_args)  # the fit config without the searched values
    tags = plan.lineage | {"optuna.study_name": opts.study_name, "optuna.storage": str(url), "cv": str(opts.cv)}
    fixed = {k: v for k, v in fixed_settings(base.as_dict()).items() if k not in searched_keys(space)}  # no trial sets
    tracker.start_study(study, tags, fixed, plan.parser.dump(base, skip_none=False))
    tracker.reconcile(study.get_trials(deepcopy=False))
    torch.set_num_threads(opts.threads or os.cpu_count() or 1)
    print(f"study {opts.study_name!r} in {url}: {so_far(study)}", flush=True)
    if not plan.prunes and main:
        print(
            f"objectives {','.join(opts.objectives)}: every trial runs to its end (Optuna prunes single-objective "
            "studies only); early stopping still ends each fit",
            flush=True,
        )
    outcome, problem = Outcome.COMPLETE, None
    try:
        with StopRequest() as stop:
            if opts.workers > 1:
                launch_workers(opts, argv or [], stop)
            else:
                progress = Progress(opts.n_trials)
                run = trial_function(plan, tracker, opts, stop, stale, progress, trial_objective)
                stopped = lambda study, trial: study.stop() if stop.requested else None  # noqa: E731
                optimize(study, run, opts.n_trials, opts.timeout, [progress, tracker.end_trial, stopped])
        if stop.requested:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        outcome = Outcome.INTERRUPTED
        raise
    except Exception as err:
        outcome = Outcome.FAILED
        if (lost := lost_storage(err, url)) is not None:
            raise TaggerError(lost) from None
        if isinstance(err, ValueError) and (taken := failed_elsewhere(study)) is not None:
            raise TaggerError(
                f"trial {taken.number} of this worker was failed by another worker, which saw no heartbeat of it "
                f"for --grace-period {opts.grace_period} s (a busy machine?) and retries it (--max-retries). Rerun the "
                "same command to go on, with a longer --grace-period"
            ) from None
        raise
    finally:
        if main:
            problem = finish(study, opts, url, plan, tracker, outcome, started)
            if problem and outcome is not Outcome.COMPLETE:  # an error is in flight, and it is the one to exit with
                print(f"tagger: error: {problem}", file=sys.stderr, flush=True)
    if problem:
        raise TaggerError(problem)
    return study


def trial_function(
    plan: TrialPlan,
    tracker: Tracker,
    opts: TuneOptions,
    stop: StopRequest,
    stale: StaleTrials,
    progress: Progress,
    trial_objective: Objective,
) -> Callable[[optuna.Trial], float | list[float]]:
    """The objective Optuna's loop calls: claim the trial, fail dead local workers' trials, a line, the trial."""
    retry = Retry(max_retry=opts.max_retries)

    def run(trial: optuna.Trial) -> float | list[float]:
        with TrialRun(trial, tracker, opts.out, stop, retry) as record_run:  # claims the trial with its worker
            fail_dead_local_trials(trial.study, stale)  # journal files have no heartbeats
            progress.started(trial.study, trial)
            return trial_objective(trial, plan, record_run)

    return run


def finish(
    study: optuna.Study,
    opts: TuneOptions,
    url: StorageURL,
    plan: TrialPlan,
    tracker: Tracker,
    outcome: Outcome,
    started: float,
) -> str | None:
    """The hand-over, the report and the closed runs. Returns what went wrong, if anything: it must not hide an
    error in flight."""
    try:
        tracker.reconcile(study.get_trials(deepcopy=False))
        complete = outcome is Outcome.COMPLETE
        best = choose(study, opts.pick)
        noise = objective_noise(study, best, plan, opts.noise_repeats, opts.out) if complete and best else None
        handover = hand_over(study, best, opts.pick, opts.out, opts.cv, build=complete)
        defined = study.user_attrs.get(DEFINITION_ATTR, {}).get("config", {})  # what the trials ran with
        fixed = {key: str(json.loads(defined[key])) for key in FIXED if key in defined}
        baseline = study.user_attrs.get(BASELINE_ATTR, {"error": "not fitted"})
        noise = noise or study.user_attrs.get(NOISE_ATTR)
        result = StudyResult(
            study, str(url), started, opts.cv, str(opts.pick), fixed, baseline, handover, noise, plan.space,
            opts.search_space,
        )  # fmt: skip
        files = write_report(result, opts.out)
        front = [t.number for t in study.best_trials] if len(study.directions) > 1 else None
        tracker.publish(handover, files, opts.register_model, front)
        if best is None:
            print(f"no trial was handed over (none completed); outputs in {opts.out}", flush=True)
            if opts.register_model:
                return f"--register-model {opts.register_model}: no complete trial, so no model to register"
        else:
            value = f"{study.metric_names[0] if study.metric_names else 'value'} {best.values[0]:.4f}"
            built = f", {opts.out / 'best.ckpt'}" if handover.test else " (best.ckpt not built: rerun to build it)"
            print(f"handed over trial {best.number} ({value}): {opts.out / 'best.yaml'}{built}", flush=True)
    except TaggerError as err:  # a --pick no trial meets, say
        return f"outputs not written: {err}"
    except STORAGE_ERRORS:
        return f"outputs not written: {url} is unreachable; rerun the same command when it is back to write them"
    except OSError as err:
        return (
            f"outputs not written: cannot write {err.filename or opts.out} ({err.strerror or err}); the trials are "
            f"stored in {url}. Free space or pick a writable --output-dir and rerun the same command to write them"
        )
    finally:
        tracker.end_study(outcome)
    return None
