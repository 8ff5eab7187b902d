"""TrialRecord: what a trial stores comes back as it was written."""

import optuna

from tagger.tune.record import TrialRecord, best_trial


def test_a_record_round_trips_through_the_study():
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"model.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)})
    written = TrialRecord(
        metrics={"val_f1": 0.61, "test_f1": 0.58, "threshold": 0.3},
        epochs=7,
        worker="host:1",
        run_id="abc",
        retry_of=2,
        resumed_from_epoch=3,
        num_params=1234,
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
