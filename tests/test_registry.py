"""The MLflow model: logged from code, registered, loaded back and served over HTTP, answering as
tagger.predict does for the same texts."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tagger.loading import Tagger, save_lean
from tagger.registry import log_model

TEXTS = ["Graph neural networks for node classification", "GANs in TensorFlow", "🙂"]


@pytest.fixture(scope="module")
def registered(trained, tmp_path_factory):
    """The tiny fitted model's lean file logged to a fresh SQLite store and registered as version 1."""
    _, best = trained
    folder = tmp_path_factory.mktemp("registry")
    lean = folder / "model.ckpt"
    save_lean(best, lean)
    uri = f"sqlite:///{folder}/mlflow.db"
    run = MlflowClient(uri).create_run(MlflowClient(uri).create_experiment("e", artifact_location=str(folder / "art")))
    info = log_model(lean, uri, run.info.run_id, register_model="tagger-test", tags={"val_f1": 0.5})
    yield uri, lean, info
    mlflow.set_tracking_uri(None)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_tags(registered, tmp_path):
    uri, lean, info = registered
    port = free_port()
    env = os.environ | {"MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    model = f"models:/tagger-test/{info.registered_model_version}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model,
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115 (a pipe left unread would block the server)
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.seek(0) or log.read()[-2000:]
                time.sleep(0.5)
        body = json.dumps({"dataframe_records": [{"text": t} for t in TEXTS]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())["predictions"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    expected = Tagger.load(lean).predict(TEXTS)
    assert [a["tags"] for a in answer] == [r["tags"] for r in expected]
    assert answer[0]["probabilities"] == pytest.approx(expected[0]["probabilities"])


def test_fit_with_one_switch_logs_its_curves_and_registers_its_model(data_dir, tmp_path):
    from conftest import tiny_args

    from tagger.cli import cli_main

    uri = f"sqlite:///{tmp_path}/mlflow.db"
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
