"""TrialRecord: what a trial stores comes back as it was written."""

import optuna
from optuna.trial import TrialState, create_trial

from tagger.tune.record import Outcome, TrialRecord


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


def test_an_outcome_is_read_from_the_trial_and_named_for_each_store():
    study = optuna.create_study(direction="maximize")
    for state, attrs in [
        (TrialState.COMPLETE, {}),
        (TrialState.PRUNED, {"rejected": "over budget"}),
        (TrialState.FAIL, {"failed": "TypeError: x"}),
        (TrialState.FAIL, {"interrupted": True}),
        (TrialState.FAIL, {}),  # failed by another worker: its own died
    ]:
        study.add_trial(
            create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None, user_attrs=attrs)
        )
    outcomes = [Outcome.of(t) for t in study.trials]
    assert outcomes == [Outcome.COMPLETE, Outcome.PRUNED, Outcome.FAILED, Outcome.INTERRUPTED, Outcome.WORKER_DIED]
    assert [o.status for o in outcomes] == ["FINISHED", "FINISHED", "FAILED", "KILLED", "FAILED"]
    assert [o.state for o in outcomes[2:]] == [TrialState.FAIL] * 3
