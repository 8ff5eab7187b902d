"""Running a study: set-up checked before any trial, the trial loop (the one owner of the admission lock)
or worker processes, and the outputs at the end, also after Ctrl-C."""

import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from tagger.errors import TaggerError
from tagger.lineage import fixed_settings
from tagger.tune.definition import check_definition, describe
from tagger.tune.errors import STORAGE_ERRORS, retry_racing, storage_error
from tagger.tune.interrupt import StopRequest
from tagger.tune.noise import objective_noise
from tagger.tune.objective import TrialPlan, make_plan, objective, objective_name
from tagger.tune.objectives import OBJECTIVES
from tagger.tune.options import TuneOptions
from tagger.tune.progress import FINISHED, Progress
from tagger.tune.record import Outcome, TrialRecord, best_trial, is_multi_objective
from tagger.tune.report import write_outputs
from tagger.tune.search_space import load_search_space, load_start_points
from tagger.tune.storage import (
    Admission,
    StaleTrials,
    StorageURL,
    check_database,
    fail_dead_local_trials,
    first_line,
    make_storage,
)
from tagger.tune.tracker import MlflowTracker, Tracker
from tagger.tune.trial_run import TrialRun
from tagger.tune.workers import die_with_parent, launch_workers


def make_sampler(name: str, seed: int, trial_number: int) -> optuna.samplers.BaseSampler:
    """A sampler for one trial, seeded by the study's seed and the trial's number: an uninterrupted study
    with a given --seed reproduces, while a resumed study or a concurrent worker (other trial numbers)
    never proposes the same parameters again. TPE keeps no state but its random generator, so a fresh
    sampler per trial loses nothing."""
    trial_seed = int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])
    if name == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    return optuna.samplers.TPESampler(seed=trial_seed)


def make_pruner(name: str, cv: int = 1, objectives: int = 1) -> optuna.pruners.BasePruner:
    """Steps are epochs on a single split, folds with --cv (a trial reports after each fold). With folds the
    median pruner stops a trial after its first fold once two trials have completed: in the default study no
    Adam-trained network's first fold reached the converged linear trials' median (docs/tuning.md). Optuna
    prunes single-objective studies only: a multi-objective study runs every trial to its end."""
    if objectives > 1:
        return optuna.pruners.NopPruner()
    if name == "median":  # the seed lesson's settings; with folds, from the first fold and the third trial on
        if cv == 1:
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def open_study(
    opts: TuneOptions,
    url: StorageURL,
    storage: optuna.storages.BaseStorage,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the study, or load it to resume: trials already in the storage count towards n_trials. A
    multi-objective study names its values (val_f1, latency_ms, ...) for Optuna's plots and the dashboard."""
    try:
        study = optuna.create_study(
            study_name=opts.study_name,
            storage=storage,
            directions=[OBJECTIVES[name].direction for name in opts.objectives],
            sampler=make_sampler(opts.sampler, opts.seed, 0),
            pruner=pruner or make_pruner(opts.pruner, opts.cv, len(opts.objectives)),
            load_if_exists=True,
        )
    except ValueError as err:  # e.g. an existing study with another direction
        raise TaggerError(f"study {opts.study_name!r} in {url}: {err}") from None
    if len(opts.objectives) > 1 and study.metric_names is None and len(study.directions) == len(opts.objectives):
        study.set_metric_names([OBJECTIVES[name].metric for name in opts.objectives])
    return study


def study_objective(opts: TuneOptions) -> tuple[str, str | list[str]]:
    """The objective's description and direction(s), as the study's definition stores them."""
    if len(opts.objectives) == 1:
        return objective_name(opts.cv), "maximize"
    costs = ", ".join(OBJECTIVES[name].label for name in opts.objectives[1:])
    return f"{objective_name(opts.cv)}; minimise {costs}", [OBJECTIVES[n].direction for n in opts.objectives]


def run_trials(
    study: optuna.Study,
    plan: TrialPlan,
    opts: TuneOptions,
    tracker: Tracker,
    admission: Admission,
    stop: StopRequest,
    stale: StaleTrials,
) -> None:
    """Run trials until the study holds n_trials finished (complete or pruned) ones, or time is up.

    With several workers the count and the new trial are one step under the admission lock, so the study
    ends with exactly n_trials; a worker waits while the others' running trials would reach the count,
    since one of them may die and need a retry.
    """
    deadline = time.monotonic() + opts.timeout if opts.timeout else None
    progress = Progress(opts.n_trials)

    def one_trial(trial: optuna.Trial) -> float:
        with TrialRun(trial, tracker, opts.out, stop, retry=stale) as run:  # records this worker on the trial
            admission.release()  # the trial exists and is claimed: others may count it now
            progress.started(study, trial)
            return objective(trial, plan, run)

    while not stop.requested:
        admission.acquire()
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
                admission.release()
                time.sleep(min(opts.heartbeat_interval, 5))
                continue
            study.sampler = make_sampler(opts.sampler, opts.seed, len(trials))  # the new trial's number
            study.optimize(one_trial, n_trials=1, catch=(Exception,), callbacks=[progress])
        finally:
            admission.release()


def run_study(
    opts: TuneOptions,
    base_args: list[str],
    pruner: optuna.pruners.BasePruner | None = None,
    argv: list[str] | None = None,
) -> optuna.Study:
    """Validate everything, then run trials (here, or in --workers processes); outputs are written even
    when stopped by Ctrl-C. argv is the command line that worker processes repeat."""
    if opts.parent_pid is not None:
        die_with_parent(opts.parent_pid)
    url = StorageURL.parse(opts.storage)
    plan = make_plan(
        base_args,
        load_search_space(opts.search_space),
        opts.search_space,
        opts.cv,
        check_edges=opts.role == "main",
        objectives=opts.objectives,
        budget=opts.budget,
    )
    if opts.role == "main":
        check_database(opts.tracking_uri, "--tracking-uri / $MLFLOW_TRACKING_URI")
        check_database(url.url, "--storage")
    stale = StaleTrials(opts.max_retries)
    storage = make_storage(url, opts.workers, stale, opts.heartbeat_interval, opts.grace_period)
    try:
        study = retry_racing(lambda: open_study(opts, url, storage, pruner), races=STORAGE_ERRORS)
    except STORAGE_ERRORS as err:  # an unreachable or unusable database
        raise TaggerError(f"cannot open Optuna storage {url}: {first_line(err)}; check --storage") from None
    if opts.role == "main":
        space = {key: asdict(param) for key, param in plan.space.items()}
        definition = describe(plan.config, space, *study_objective(opts), opts.budget.limits())
        check_definition(study, definition, opts.allow_changes)
        for point in load_start_points(opts.search_space):  # once: a resumed study has them already
            study.enqueue_trial(point, skip_if_exists=True)
        check_writable(opts.out)
    tracker = MlflowTracker(opts.tracking_uri, experiment=opts.study_name)  # nothing tracked before this point
    stale.on_dead = lambda trial: tracker.reconcile([trial])
    admission = Admission(url, opts.study_name)
    with admission:  # workers starting together must find one parent run, not create one each
        tags = plan.lineage | {"optuna.study_name": opts.study_name, "optuna.storage": str(url), "cv": str(opts.cv)}
        base = plan.parser.parse_args(plan.base_args)  # the fit config without the searched values
        tracker.start_study(study, tags, fixed_settings(base.as_dict()), plan.parser.dump(base, skip_none=False))
    tracker.reconcile(study.get_trials(deepcopy=False))
    torch.set_num_threads(opts.threads or os.cpu_count() or 1)
    start, outcome, problem, ran = time.perf_counter(), Outcome.COMPLETE, None, False
    print(f"study {opts.study_name!r} in {url}: {len(study.trials)} trials so far", flush=True)
    if not plan.prunes and opts.role == "main":
        print(
            f"objectives {','.join(opts.objectives)}: every trial runs to its end (Optuna prunes single-objective "
            "studies only); early stopping still ends each fit",
            flush=True,
        )
    try:
        with StopRequest() as stop:
            if opts.workers > 1:
                launch_workers(opts, argv or [], stop)
            else:
                run_trials(study, plan, opts, tracker, admission, stop, stale)
        if stop.requested:
            raise KeyboardInterrupt
        ran = True
    except KeyboardInterrupt:
        outcome = Outcome.INTERRUPTED
        raise
    except Exception as err:
        outcome = Outcome.FAILED
        lost = storage_error(err)
        if lost is None:
            raise
        raise TaggerError(
            f"lost the Optuna storage {url} ({first_line(lost)}); the trials that finished are stored there. "
            "Rerun the same command when it is reachable again to resume"
        ) from None
    finally:
        admission.close()
        if opts.role == "main":
            problem = finish(study, opts, url, plan, tracker, outcome, time.perf_counter() - start)
            if problem and not ran:  # an error is in flight, and it is the one to exit with
                print(f"tagger: error: {problem}", file=sys.stderr, flush=True)
    if problem:
        raise TaggerError(problem)
    return study


def check_writable(folder: Path) -> None:
    """Trials keep their checkpoints under the output folder: it must take files before any trial runs."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise TaggerError(
            f"cannot write to the output folder {folder} ({err.strerror or err}); pick a writable --output-dir"
        ) from None


def finish(
    study: optuna.Study,
    opts: TuneOptions,
    url: StorageURL,
    plan: TrialPlan,
    tracker: Tracker,
    outcome: Outcome,
    wall_s: float,
) -> str | None:
    """Outputs and closed runs. Returns what went wrong, if anything: it must not hide an error in flight."""
    try:
        tracker.reconcile(study.get_trials(deepcopy=False))
        best = best_trial(study, opts.pick)
        complete = outcome == Outcome.COMPLETE
        noise = objective_noise(study, best, plan, opts.noise_repeats, opts.out) if complete and best else None
        files = write_outputs(
            study, best, opts.out, plan.base_args, url, wall_s, opts.cv, complete, str(opts.pick), noise
        )
        model = opts.out / "best.ckpt"
        tracker.publish(
            None if best is None else TrialRecord.of(best),
            None if best is None else best.number,
            files,
            model=model if model.exists() else None,
            register_model=opts.register_model,
            front=[t.number for t in study.best_trials] if is_multi_objective(study) else None,
        )
        print(f"outputs in {opts.out}", flush=True)
    except TaggerError as err:  # a --pick no trial meets, say
        return f"outputs not written: {err}"
    except STORAGE_ERRORS:
        return f"outputs not written: {url} is unreachable; rerun the same command when it is back to write them"
    except OSError as err:
        where = err.filename or opts.out
        return (
            f"outputs not written: cannot write {where} ({err.strerror or err}); the trials are stored in {url}. "
            "Free space or pick a writable --output-dir and rerun the same command to write them"
        )
    finally:
        tracker.end_study(outcome)
    return None
