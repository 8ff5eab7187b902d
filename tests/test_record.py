"""TrialRecord: what a trial stores comes back as it was written."""

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from tagger.tune.record import Outcome, TrialRecord, family, network, pruned_at
from tagger.tune.storage import StaleTrials, StorageURL, make_storage


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


def pruned_at_its_second_report(trial: optuna.Trial) -> float:
    for step, ap in enumerate([0.6, 0.7013]):
        trial.report(ap, step)
    if trial.number == 1:
        raise optuna.TrialPruned()
    return 0.6777


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_pruned_trial_is_stored_without_the_pruner_s_figure_as_its_value(tmp_path, kind):
    url = StorageURL.parse(str(tmp_path / "j.log") if kind == "journal" else f"sqlite:///{tmp_path}/o.db")
    storage = make_storage(url, workers=1, on_stale=StaleTrials(0), heartbeat_interval=10, grace_period=30)
    study = optuna.create_study(storage=storage, direction="maximize")
    study.optimize(pruned_at_its_second_report, n_trials=2)
    complete, pruned = optuna.load_study(study_name=study.study_name, storage=storage).trials
    assert complete.value == 0.6777 and pruned.state == TrialState.PRUNED
    assert pruned.value is None and pruned_at(pruned) == 0.7013 and pruned_at(complete) is None  # was 0.7013


def test_a_family_and_a_network_are_read_from_the_config():
    linear = {"model": {"solver": "lbfgs", "net": {"class_path": "tagger.models.ngram.NgramNet"}}}
    cnn = {
        "model": {
            "solver": "adam",
            "net": {
                "class_path": "tagger.models.cnn.CharCNN",
                "init_args": {"embedding_dim": 8, "filter_sizes": [1, 2], "dropout_p": 0.5, "impl": "auto"},
            },
        },
        "data": {"features": "tokens"},
    }
    plugin = {"model": {"net": {"class_path": "my_package.nets.MyNet", "init_args": {"dim": 4}}}}
    hybrid = linear | {"data": {"features": "hybrid"}}
    assert [family(c) for c in (linear, hybrid, cnn, plugin, {})] == ["linear", "hybrid", "CharCNN", "MyNet", "?"]
    assert network(cnn) == "CharCNN(embedding_dim=8, filter_sizes=[1, 2]) on tokens"
    assert TrialRecord(config=yaml.safe_dump(plugin)).network == "MyNet(dim=4)"
