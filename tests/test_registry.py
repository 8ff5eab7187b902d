"""The MLflow model: logged from code, registered, loaded back and served over HTTP, answering as
tagger.predict does for the same texts."""

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from conftest import TEXTS, tracking_store
from mlflow.tracking import MlflowClient

from tagger.loading import Tagger


def test_the_logged_model_loads_and_predicts_as_tagger_predict(registered):
    uri, lean, info = registered
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/tagger-test/{info.registered_model_version}")
    got = loaded.predict(pd.DataFrame({"text": TEXTS}))
    expected = Tagger.load(lean).predict(TEXTS)
    assert list(got["tags"].map(list)) == [r["tags"] for r in expected]
    for row, result in zip(got["probabilities"], expected, strict=True):
        assert row == pytest.approx(result["probabilities"]) or (not result["probabilities"] and not row)
    assert [c.name for c in loaded.metadata.get_input_schema().inputs] == ["text"]
    assert [c.name for c in loaded.metadata.get_output_schema().inputs] == ["tags", "probabilities"]


def test_the_registry_holds_the_version_with_its_tags(registered):
    uri, _, info = registered
    version = MlflowClient(uri).get_model_version("tagger-test", info.registered_model_version)
    assert version.tags["val_f1"] == "0.5" and version.run_id == info.run_id


def test_fit_with_one_switch_logs_its_curves_and_registers_its_model(data_dir, tmp_path):
    from conftest import tiny_args

    from tagger.cli import cli_main

    uri = tracking_store(tmp_path)
    built = cli_main(
        ["fit", *tiny_args(data_dir, tmp_path), "--mlflow.tracking_uri", uri, "--mlflow.register_model", "fitted"]
    )
    client = MlflowClient(uri)
    (version,) = client.search_model_versions("name='fitted'")
    run = client.get_run(version.run_id)
    assert "val/loss" in run.data.metrics and run.data.params["lr"] == str(built.model.hparams.lr)
    lean = Path(built.trainer.checkpoint_callback.best_model_path).with_name("model.ckpt")
    mlflow.set_tracking_uri(uri)
    try:
        got = mlflow.pyfunc.load_model("models:/fitted/1").predict(pd.DataFrame({"text": TEXTS}))
    finally:
        mlflow.set_tracking_uri(None)
    assert list(got["tags"].map(list)) == [r["tags"] for r in Tagger.load(lean).predict(TEXTS)]
