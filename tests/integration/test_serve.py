"""`mlflow models serve` answers with the tags tagger.predict gives for the same texts."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import TEXTS

from tagger.loading import Tagger

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, records: list[dict]) -> tuple[int, dict]:
    """An /invocations request: the HTTP status and the JSON answer (predictions, or the error)."""
    body = json.dumps({"dataframe_records": records}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_mlflow_models_serve_answers_with_the_tags(registered, tmp_path):
    """The tags of tagger.predict for texts; a client's error (a null text) answered 400, with the row named."""
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
        status, answer = post(port, [{"text": t} for t in TEXTS])
        refused = post(port, [{"text": TEXTS[0]}, {"text": None}])
        titled = post(port, [{"title": "Graph neural networks", "description": "for node classification"}])
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    expected = Tagger.load(lean).predict(TEXTS)
    assert status == 200 and [a["tags"] for a in answer["predictions"]] == [r["tags"] for r in expected]
    assert answer["predictions"][0]["probabilities"] == pytest.approx(expected[0]["probabilities"])
    assert refused[0] == 400 and "row 1 (counting from 0): text must be a string, got null" in refused[1]["message"]
    (as_predict,) = Tagger.load(lean).predict(["Graph neural networks for node classification"])
    assert titled[0] == 200 and titled[1]["predictions"][0]["tags"] == as_predict["tags"]
