"""optuna-dashboard on the study storage a default run writes (what `make dashboard` serves)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

pytestmark = pytest.mark.integration


def test_optuna_dashboard_reads_the_default_journal_storage(tmp_path):
    """The study storage a default run writes (a plain journal path) is what `make dashboard` serves."""
    study = optuna.create_study(study_name="watched", storage=JournalStorage(JournalFileBackend(str(tmp_path / "j"))))
    study.add_trial(optuna.trial.create_trial(value=0.5))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dashboard = Path(sys.executable).parent / "optuna-dashboard"
    log = open(tmp_path / "dashboard.log", "w+")  # noqa: SIM115 (a pipe left unread would block it)
    command = [str(dashboard), "--host", "127.0.0.1", "--port", str(port), str(tmp_path / "j")]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2).read())
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.seek(0) or log.read()[-2000:]
                time.sleep(0.3)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    (summary,) = answer["study_summaries"]
    assert summary["study_name"] == "watched" and summary["directions"] == ["minimize"]
