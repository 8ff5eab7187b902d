"""Every MLflow run says where its model came from: code, data, split; params without duplicates or the
data-derived lists; curves on an epoch axis."""

import hashlib
import sys

from conftest import tiny_args, tracking_store
from mlflow.tracking import MlflowClient
from mlflow.utils import mlflow_tags

from tagger.data.datamodule import TaggerDataModule
from tagger.fit_cli import cli_main
from tagger.lineage import FIXED, lineage


def check_lineage(tags: dict, data_dir) -> None:
    """The commit and source in MLflow's reserved tags (its UI shows them), the data and split in tagger's own."""
    assert len(tags[mlflow_tags.MLFLOW_GIT_COMMIT]) == 40 and "git.commit" not in tags
    assert tags["git.dirty"] in ("True", "False") and tags[mlflow_tags.MLFLOW_SOURCE_TYPE] == "LOCAL"
    assert tags[mlflow_tags.MLFLOW_SOURCE_NAME] == sys.argv[0]  # the program run, as MLflow's own runs say
    for name in ("projects.json", "tags.json"):
        assert tags[f"data.{name}.sha256"] == hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
    assert int(tags["split.train"]) > int(tags["split.val"]) > 0 and tags["split.seed"] == "42"


def test_lineage_uses_mlflow_s_reserved_source_tags(data_dir):
    check_lineage(lineage(TaggerDataModule(str(data_dir), min_tag_freq=10)), data_dir)


def test_a_tracked_fit_records_lineage_clean_params_and_epoch_curves(data_dir, tmp_path):
    uri = tracking_store(tmp_path)
    built = cli_main(["fit", *tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "3"), "--mlflow.tracking_uri", uri])
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tagger-fit").experiment_id])
    check_lineage(run.data.tags, data_dir)
    assert not {"class_weights", "positive_rates", "_instantiator", "epoch"} & set(run.data.params | run.data.metrics)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")]
    assert steps == list(range(built.trainer.current_epoch))  # one point per epoch, at its epoch
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_study_and_trial_runs_record_lineage_and_each_setting_once(single_study, data_dir):
    client = MlflowClient(single_study.options.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    for run in (parent, *children):
        check_lineage(run.data.tags, data_dir)
        assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    for child in children:  # the fixed settings a user compares and the searched keys, each once
        assert set(child.data.params) == set(FIXED) | {"model.lr", "model.net.dropout_p"}
    assert set(parent.data.params) == set(FIXED) and parent.data.params["data.batch_size"] == "16"
    assert "fixed settings" in (single_study.options.out / "summary.md").read_text()
