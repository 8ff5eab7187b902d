"""The MLflow model: logged from code, registered, loaded back and served over HTTP, answering as
tagger.predict does for the same texts."""

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from conftest import TEXTS, tiny_args, tracking_store
from mlflow.tracking import MlflowClient

from tagger import cli
from tagger.cli import cli_main
from tagger.errors import TaggerError
from tagger.loading import Tagger
from tagger.registry import check_model_name


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
    uri = tracking_store(tmp_path)
    built = cli_main(  # a relative root (the working folder is tmp_path): the tag must not depend on it
        ["fit", *tiny_args(data_dir, Path("fit")), "--mlflow.tracking_uri", uri, "--mlflow.register_model", "fitted"]
    )
    client = MlflowClient(uri)
    (version,) = client.search_model_versions("name='fitted'")
    run = client.get_run(version.run_id)
    assert "val/loss" in run.data.metrics and run.data.params["lr"] == str(built.model.hparams.lr)
    assert run.info.run_name == "cnn-CharCNN"  # the config file and the network, not a random name
    best = built.trainer.checkpoint_callback
    assert version.tags["checkpoint"] == str(tmp_path / best.best_model_path)
    assert float(version.tags["val_loss"]) == pytest.approx(best.best_model_score.item())
    lean = Path(built.trainer.checkpoint_callback.best_model_path).with_name("model.ckpt")
    mlflow.set_tracking_uri(uri)
    try:
        got = mlflow.pyfunc.load_model("models:/fitted/1").predict(pd.DataFrame({"text": TEXTS}))
    finally:
        mlflow.set_tracking_uri(None)
    assert list(got["tags"].map(list)) == [r["tags"] for r in Tagger.load(lean).predict(TEXTS)]


@pytest.mark.parametrize("name", ["bad/name", "a:b", "", "  ", ".", "..x"])
def test_a_name_the_registry_refuses_is_one_line_naming_the_option(name):
    with pytest.raises(TaggerError) as error:
        check_model_name(name, "--register-model")
    assert str(error.value).startswith(f"--register-model {name!r} is not a registered model name: give ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["tagger-cnn", "my model", "v1.2_final"])
def test_a_name_the_registry_takes_passes(name):
    check_model_name(name, "--register-model")


def test_fit_refuses_a_bad_registered_model_name_before_any_work(data_dir, tmp_path, monkeypatch, capsys):
    uri = tracking_store(tmp_path)
    argv = ["fit", *tiny_args(data_dir, tmp_path), "--mlflow.tracking_uri", uri, "--mlflow.register_model", "bad/name"]
    monkeypatch.setattr("sys.argv", ["tagger.cli", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert str(exit_info.value).startswith("tagger: error: --mlflow.register_model 'bad/name' is not a registered")
    assert not (tmp_path / "lightning_logs").exists() and "Epoch" not in capsys.readouterr().out
