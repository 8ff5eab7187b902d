"""Every MLflow run says where its model came from: code, data, split; params without duplicates or the
data-derived lists; curves on an epoch axis."""

import hashlib

import pytest
from conftest import tiny_args
from mlflow.tracking import MlflowClient

from tagger.cli import cli_main
from tagger.lineage import FIXED


def check_lineage(tags: dict, data_dir) -> None:
    assert len(tags["git.commit"]) == 40 and tags["git.dirty"] in ("True", "False")
    for name in ("projects.json", "tags.json"):
        assert tags[f"data.{name}.sha256"] == hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
    assert int(tags["split.train"]) > int(tags["split.val"]) > 0 and tags["split.seed"] == "42"


def test_a_tracked_fit_records_lineage_clean_params_and_epoch_curves(data_dir, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    built = cli_main(["fit", *tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "3"), "--mlflow.tracking_uri", uri])
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tagger-fit").experiment_id])
    check_lineage(run.data.tags, data_dir)
    assert not {"class_weights", "positive_rates", "_instantiator", "epoch"} & set(run.data.params | run.data.metrics)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")]
    assert steps == list(range(built.trainer.current_epoch))  # one point per epoch, at its epoch
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.mark.slow
def test_study_and_trial_runs_record_lineage_and_each_setting_once(data_dir, tmp_path):
    import yaml

    from tagger.tune.options import TuneOptions
    from tagger.tune.runner import run_study

    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"data.batch_size": {"type": "categorical", "choices": [8, 16]}}))
    options = TuneOptions(n_trials=1, study_name="l", storage=str(tmp_path / "j"), pruner="none", cv=1,
                          search_space=str(space), tracking_uri=f"sqlite:///{tmp_path}/m.db",
                          output_dir=str(tmp_path / "out"))  # fmt: skip
    run_study(options, tiny_args(data_dir, tmp_path))
    client = MlflowClient(options.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("l").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (child,) = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    for run in (parent, child):
        check_lineage(run.data.tags, data_dir)
        assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert set(child.data.params) == set(FIXED)  # the searched key is one of them, logged once
    assert child.data.params["data.batch_size"] in ("8", "16") and parent.data.params["data.batch_size"] == "16"
    assert "fixed settings" in (tmp_path / "out" / "summary.md").read_text()
