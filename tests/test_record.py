"""TrialRecord: what a trial stores comes back as it was written."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tagger.errors import TaggerError
from tagger.tune.objectives import Pick
from tagger.tune.record import TrialRecord, best_trial


def test_a_record_round_trips_through_the_study():
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"model.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)})
    written = TrialRecord(
        metrics={"val_f1": 0.61, "test_f1": 0.58, "threshold": 0.3, "latency_ms": 1.5, "num_params": 1234.0},
        epochs=7,
        worker="host:1",
        run_id="abc",
        retry_of=2,
        resumed_from_epoch=3,
        rejected="over budget: num_params 1234 > 1000",
    )
    written.save(trial)
    study.tell(trial, 0.61)
    read = TrialRecord.of(study.trials[0])
    assert read == TrialRecord(
        params=study.trials[0].params, **{k: v for k, v in vars(written).items() if k != "params"}
    )
    assert study.trials[0].user_attrs["mlflow_run_id"] == "abc"  # the name earlier studies used
    assert read.metric("val_f1") == 0.61 and read.metric("missing") != read.metric("missing")  # nan


def test_fields_left_unset_are_not_written():
    study = optuna.create_study()
    trial = study.ask()
    TrialRecord(worker="host:1").save(trial)
    assert study.trials[0].user_attrs == {"worker": "host:1"}


def test_best_trial_ignores_pruned_and_failed_trials():
    study = optuna.create_study(direction="maximize")
    assert best_trial(study) is None
    study.add_trial(optuna.trial.create_trial(value=0.9, state=optuna.trial.TrialState.PRUNED))
    study.add_trial(optuna.trial.create_trial(value=0.5))
    study.add_trial(optuna.trial.create_trial(value=0.7))
    assert best_trial(study).value == 0.7


def costed(f1: float, latency_ms: float, state: TrialState = TrialState.COMPLETE) -> optuna.trial.FrozenTrial:
    values = None if state == TrialState.PRUNED else [f1, latency_ms]
    return create_trial(values=values, state=state, user_attrs={"val_f1": f1, "latency_ms": latency_ms})


def test_a_pick_rule_chooses_the_most_accurate_trial_within_its_budget():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for f1, latency in [(0.70, 9.0), (0.70, 8.0), (0.66, 2.0), (0.60, 0.5), (0.50, 3.0)]:
        study.add_trial(costed(f1, latency))
    study.add_trial(costed(0.9, 0.1, TrialState.PRUNED))  # rejected or pruned: never picked
    assert best_trial(study).number == 1  # the front's most accurate: as accurate as trial 0, and faster
    assert best_trial(study, Pick.parse("latency_ms<=2")).number == 2
    assert best_trial(study, Pick.parse("latency_ms<=1")).number == 3
    assert best_trial(study, Pick.parse("trial=4")).number == 4  # any complete trial, on the front or not
    with pytest.raises(
        TaggerError, match=r"no complete trial meets --pick latency_ms<=0.1 \(the lowest: latency_ms 0.5"
    ):
        best_trial(study, Pick.parse("latency_ms<=0.1"))
    with pytest.raises(TaggerError, match="trial=5: that trial is pruned"):
        best_trial(study, Pick.parse("trial=5"))
    with pytest.raises(TaggerError, match="trial=9: the study has trials 0 to 5"):
        best_trial(study, Pick.parse("trial=9"))
