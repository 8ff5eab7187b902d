"""`mlflow models serve` answers with the tags tagger.predict gives for the same texts."""

import json
import os
import socket
import subprocess
import sys
import time
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
