"""The storage URL is parsed once: its kind, its redacted form, its file or host; dead local workers' trials."""

import socket
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tagger.errors import TaggerError
from tagger.redact import first_line, redact
from tagger.tune.storage import StaleTrials, StorageURL, absolute, fail_dead_local_trials


def test_journal_url():
    url = StorageURL.parse("journal:studies/optuna.journal")
    assert (url.kind, url.path) == ("journal", Path("studies/optuna.journal"))


@pytest.mark.parametrize(
    ("given", "kind", "host", "shown"),
    [
        ("sqlite:///optuna.db", "sqlite", None, "sqlite:///optuna.db"),
        (
            "postgresql://bob:hunter2@db.example:5432/s",
            "postgresql",
            "db.example",
            "postgresql://bob:***@db.example:5432/s",
        ),
        ("postgresql+psycopg://bob@10.0.0.1/s", "postgresql", "10.0.0.1", "postgresql+psycopg://bob@10.0.0.1/s"),
    ],
)
def test_database_urls(given, kind, host, shown):
    url = StorageURL.parse(given)
    assert (url.kind, url.host, url.redacted, str(url)) == (kind, host, shown, shown)


def test_unknown_scheme_is_one_message():
    with pytest.raises(TaggerError, match="not a storage"):
        StorageURL.parse("redis://localhost:6379")


@pytest.mark.parametrize(
    "url",
    ["postgresql://:hunter2@host/db", "postgresql://bob:hun@ter2@host/db", "http://bob:hunter2@host:5000"],
)
def test_passwords_never_shown(url):
    assert "hunter2" not in redact(url) and "ter2" not in redact(url) and "***" in redact(url)


def test_a_raw_at_sign_in_the_password_still_finds_the_host():
    assert StorageURL.parse("postgresql://bob:p@ss@db.example/s").host == "db.example"


def test_first_line_masks_passwords_and_names_a_silent_error():
    err = RuntimeError("could not reach postgresql://bob:hunter2@h/db\nDETAIL: more")
    assert first_line(err) == "could not reach postgresql://bob:***@h/db"
    assert first_line(ValueError()) == "ValueError"


def test_a_url_inside_a_message_is_masked_and_the_message_kept():
    assert redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("journal:optuna.journal") == "journal:optuna.journal"
    assert redact("http://h:5000/a%20b#x") == "http://h:5000/a%20b#x"  # nothing to mask: unchanged
    assert redact("failed (postgresql://:hunter2@h/db). Retry") == "failed (postgresql://:***@h/db). Retry"


def test_a_zombie_worker_counts_as_dead():
    import os
    import subprocess
    import time

    from tagger.tune.storage import alive

    child = subprocess.Popen(["true"])  # exits at once; unreaped until wait(), i.e. a zombie
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "State:\tZ" not in Path(f"/proc/{child.pid}/status").read_text():
        time.sleep(0.05)
    assert alive(os.getpid()) and not alive(child.pid)
    child.wait()
    assert not alive(child.pid)


def test_a_dead_worker_s_trial_is_failed_and_its_retry_is_not_taken_for_dead():
    dead = subprocess.Popen(["true"])
    dead.wait()
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("worker", f"{socket.gethostname()}:{dead.pid}")
    trial.set_user_attr("config", "model: {}")
    stale = StaleTrials(max_retry=1)
    fail_dead_local_trials(study, stale)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
    retry = study.ask()  # popped by a worker that has not claimed it yet
    assert retry.params == trial.params and retry.user_attrs == {"config": "model: {}"}
    fail_dead_local_trials(study, stale)  # another worker looks for dead ones meanwhile
    assert study.trials[1].state == TrialState.RUNNING


def test_files_are_named_absolutely_so_that_another_folder_finds_the_same_store(tmp_path):
    assert absolute("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"  # the tests run in tmp_path
    for same in ("sqlite:////abs/m.db", "sqlite://", "postgresql://u:p@h/db", "http://mlflow:5000", "databricks"):
        assert absolute(same) == same
    assert StorageURL.parse("optuna.journal").absolute == f"{tmp_path}/optuna.journal"
    assert StorageURL.parse("sqlite:///o.db").absolute == f"sqlite:///{tmp_path}/o.db"
    assert StorageURL.parse("postgresql://u:secret@h/db").absolute == "postgresql://u:***@h/db"
