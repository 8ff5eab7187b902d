"""The study loop on instant objectives, the way Optuna's own tests do it: trial counts, resumes, samplers, the
failure cap, start trials, study definitions, and what the hand-over picks. No model trains here but the one
refit of a hand-over."""

import optuna
import pytest
import yaml
from conftest import tiny_args, tune_options
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState, create_trial

from tagger.errors import TaggerError
from tagger.tune.definition import check_definition
from tagger.tune.handover import choose
from tagger.tune.objectives import Pick
from tagger.tune.report import front_table
from tagger.tune.runner import FINISHED, TrialSeededSampler, optimize, run_study
from tagger.tune.search_space import suggest

SPACE = {"model.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}


def lr_objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


def study_of(*states: TrialState) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for state in states:
        study.add_trial(create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None))
    return study


def test_a_study_ends_with_n_finished_trials_counting_pruned_ones_and_resumes():
    calls = []

    def objective(trial: optuna.Trial) -> float:
        calls.append(trial.number)
        if trial.number == 1:
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise ValueError("a failed trial does not count")
        return 0.5

    study = optuna.create_study(direction="maximize")
    optimize(study, objective, n_trials=3)
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.FAIL,
        TrialState.COMPLETE,
    ]
    optimize(study, objective, n_trials=3)  # already there: nothing runs
    optimize(study, objective, n_trials=5)
    assert len(study.get_trials(states=FINISHED)) == 5 and calls == [0, 1, 2, 3, 4, 5]


def test_too_many_failed_trials_stop_the_study_with_one_message():
    study = study_of(TrialState.FAIL, TrialState.FAIL)  # failures of earlier runs count too

    def fails(trial: optuna.Trial) -> float:
        raise ValueError("broken config")

    with pytest.raises(TaggerError, match="3 trials failed; see their reasons"):
        optimize(study, fails, n_trials=1)
    assert len(study.trials) == 3


def test_each_trial_s_sampler_is_seeded_by_its_number():
    def params(study: optuna.Study, n: int) -> list[float]:
        study.optimize(lr_objective, n_trials=n)
        return [t.params["x"] for t in study.trials]

    first = params(optuna.create_study(sampler=TrialSeededSampler("tpe", 42)), 3)
    assert first == params(optuna.create_study(sampler=TrialSeededSampler("tpe", 42)), 3)  # reproduces
    assert first != params(optuna.create_study(sampler=TrialSeededSampler("tpe", 43)), 3)
    resumed = optuna.create_study(sampler=TrialSeededSampler("tpe", 42))
    resumed.optimize(lr_objective, n_trials=2)
    resumed.sampler = TrialSeededSampler("tpe", 42)  # a new process on the same study
    assert len(set(params(resumed, 2))) == 4  # trials 2 and 3: new proposals, not trials 0 and 1 again
    assert params(optuna.create_study(sampler=TrialSeededSampler("random", 1)), 2) != first[:2]


def test_the_pick_is_the_most_accurate_complete_trial_then_the_cheapest_within_budgets():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for values, latency in [([0.7, 5.0], 5.0), ([0.7, 2.0], 2.0), ([0.6, 1.0], 1.0)]:
        study.add_trial(create_trial(values=values, user_attrs={"latency_ms": latency}))
    study.add_trial(create_trial(state=TrialState.PRUNED))
    assert choose(study, Pick()).number == 1  # equal F1: the cheaper, on the front
    assert choose(study, Pick.parse("latency_ms<=1.5")).number == 2
    assert choose(study, Pick.parse("trial=0")).number == 0
    with pytest.raises(TaggerError, match="no complete trial meets --pick latency_ms<=0.5 .the lowest: latency_ms 1"):
        choose(study, Pick.parse("latency_ms<=0.5"))
    with pytest.raises(TaggerError, match="trial=3: that trial is pruned"):
        choose(study, Pick.parse("trial=3"))
    with pytest.raises(TaggerError, match="trial=9: the study has trials 0 to 3"):
        choose(study, Pick.parse("trial=9"))
    assert choose(study_of(TrialState.PRUNED), Pick()) is None


def test_a_study_defined_otherwise_is_refused_and_its_objectives_never_change():
    study = optuna.create_study(directions=["maximize", "minimize"])
    definition = {"config": {"trainer.max_epochs": "3"}, "search_space": {}, "objective": "F1; minimise latency"}
    check_definition(study, definition, ["maximize", "minimize"], allow_changes=False)  # stored
    other_epochs = definition | {"config": {"trainer.max_epochs": "7"}}
    with pytest.raises(TaggerError, match=r"changed trainer\.max_epochs \(3 -> 7\).*--allow-changes"):
        check_definition(study, other_epochs, ["maximize", "minimize"], allow_changes=False)
    check_definition(study, other_epochs, ["maximize", "minimize"], allow_changes=True)
    other_cost = definition | {"objective": "F1; minimise parameters"}  # same directions, another objective
    for allow in (False, True):
        with pytest.raises(TaggerError, match="exists with other objectives .*this run asks for"):
            check_definition(study, other_cost, ["maximize", "minimize"], allow_changes=allow)
        with pytest.raises(TaggerError, match="other objectives"):
            check_definition(study, definition, ["maximize"], allow_changes=allow)


def instant(trial, plan, run) -> float:
    """A trial without training: its params' value, recorded as a real trial records it."""
    params = suggest(trial, plan.space)
    run.record.config = plan.config_for(params)
    run.start(params, plan.lineage)
    run.record.metrics = {"val_f1": params["model.lr"] * 10, "test_f1": 0.5, "threshold": 0.5}
    return params["model.lr"] * 10


def test_start_trials_run_first_and_once_and_the_runs_are_closed(data_dir, tmp_path):
    space = SPACE | {"start": [{"model.lr": 1e-4}]}
    options = tune_options(tmp_path, space, n_trials=2, pruner="none")
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1")
    study = run_study(options, args, trial_objective=instant)
    options.n_trials = 3
    study = run_study(options, args, trial_objective=instant)
    assert [t.params["model.lr"] for t in study.trials].count(1e-4) == 1 and study.trials[0].params["model.lr"] == 1e-4
    client = MlflowClient(options.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}  # a parent, three trials
    assert yaml.safe_load((options.out / "best.yaml").read_text())["model"]["lr"] == study.best_params["model.lr"]


def test_a_failing_trial_is_recorded_with_its_reason_and_the_study_goes_on(data_dir, tmp_path):
    def first_fails(trial, plan, run) -> float:
        if trial.number == 0:
            run.start({}, plan.lineage)
            raise RuntimeError("the config broke")
        return instant(trial, plan, run)

    options = tune_options(tmp_path, SPACE, n_trials=1, pruner="none")
    study = run_study(options, tiny_args(data_dir, tmp_path), trial_objective=first_fails)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[0].user_attrs["failed"] == "RuntimeError: the config broke"
    client = MlflowClient(options.tracking_uri)
    failed = client.get_run(study.trials[0].user_attrs["mlflow_run_id"])
    assert failed.info.status == "FAILED" and failed.data.tags["optuna.fail_reason"] == "RuntimeError: the config broke"


def test_a_study_with_nothing_to_hand_over_says_so_and_fails_a_registration(data_dir, tmp_path, capsys):
    def rejected(trial, plan, run) -> float:
        run.start({}, plan.lineage)
        raise optuna.TrialPruned("over budget")

    options = tune_options(tmp_path, SPACE, n_trials=2, pruner="none", register_model="tagger")
    with pytest.raises(TaggerError, match="--register-model tagger: no complete trial, so no model to register"):
        run_study(options, tiny_args(data_dir, tmp_path), trial_objective=rejected)
    assert "no trial was handed over (none completed)" in capsys.readouterr().out
    assert not list(options.out.glob("best.*")) and (options.out / "summary.md").exists()
    empty_front = front_table(optuna.create_study(directions=["maximize", "minimize"])).to_csv(index=False)
    assert empty_front.startswith("number,val_f1,latency_ms")  # a header, even without rows


def test_the_parent_run_and_the_summary_leave_out_the_settings_the_trials_search(data_dir, tmp_path, capsys):
    when = {"when": {"adam": {"data.batch_size": {"type": "categorical", "choices": [8, 32]}}}}
    space = SPACE | {"model.solver": {"type": "categorical", "choices": ["adam"], **when}}
    options = tune_options(tmp_path, space, n_trials=1, pruner="none")
    study = run_study(options, tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1"), trial_objective=instant)
    assert "study 't' in sqlite:///" in (said := capsys.readouterr().out) and ": new\n" in said  # not "0 trials so far"
    client = MlflowClient(options.tracking_uri)
    (parent,) = client.search_runs([client.get_experiment_by_name("t").experiment_id], "tags.best_trial = '0'")
    assert "data.batch_size" not in parent.data.params and parent.data.params["trainer.max_epochs"] == "1"
    assert parent.data.tags["best.data.batch_size"] == str(study.best_params["data.batch_size"])  # the winner's
    fixed = next(line for line in (options.out / "summary.md").read_text().splitlines() if "fixed settings" in line)
    assert "data.batch_size" not in fixed and "trainer.max_epochs=1" in fixed


def test_a_trial_another_worker_failed_stops_this_one_with_one_message(data_dir, tmp_path):
    """Another worker saw no heartbeat of this one's trial for the grace period (a busy machine), failed it and
    queued its retry; this worker's trial then ends, and Optuna refuses to tell a failed trial."""

    def failed_elsewhere(trial, plan, run) -> float:
        value = instant(trial, plan, run)
        optuna.load_study(study_name="t", storage=options.storage).tell(trial.number, state=TrialState.FAIL)
        return value

    options = tune_options(tmp_path, SPACE, n_trials=2, pruner="none")
    with pytest.raises(TaggerError, match=r"trial 0 of this worker was failed by another worker, .*--grace-period"):
        run_study(options, tiny_args(data_dir, tmp_path), trial_objective=failed_elsewhere)
    assert [t.state for t in optuna.load_study(study_name="t", storage=options.storage).trials] == [TrialState.FAIL]
