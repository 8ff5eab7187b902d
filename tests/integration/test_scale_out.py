"""Several worker processes on one study: PostgreSQL and journal-file storages, killed workers, trial counts.

Workers share Optuna's own loop and count the whole study's finished trials after each of theirs, so a study of
N trials on W workers ends with N to N + W - 1 finished trials (docs/scale-out.md)."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy
import yaml
from conftest import POSTGRES, tiny_args, tracking_store
from mlflow.tracking import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from tagger.tune.storage import alive

pytestmark = pytest.mark.integration  # real worker processes, each a whole study

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def tune_command(tmp_path, data_dir, storage, *extra):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"model.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}))
    return [
        sys.executable, "-m", "tagger.tune", "--study-name", "s", "--storage", storage,
        "--tracking-uri", tracking_store(tmp_path), "--search-space", str(space),
        "--output-dir", str(tmp_path / "out"), "--pruner", "none", "--heartbeat-interval", "1", "--grace-period", "3",
        "--cv", "1", "--threads", "1",
        *tiny_args(data_dir, tmp_path), *extra,
    ]  # fmt: skip


def load(storage: str) -> optuna.Study:
    if storage.startswith("journal:"):
        storage = JournalStorage(JournalFileBackend(storage.removeprefix("journal:")))
    return optuna.load_study(study_name="s", storage=storage)


def check_study(storage, tmp_path, n_trials, workers=1):
    study = load(storage)
    finished = study.get_trials(states=FINISHED)
    assert n_trials <= len(finished) <= n_trials + workers - 1
    assert len({t.number for t in study.trials}) == len(study.trials)
    assert all(t.params and t.value is not None for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("s").experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len({r.data.tags["mlflow.parentRunId"] for r in children}) == 1
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [t.number for t in study.trials]
    assert not [r for r in runs if r.info.status == "RUNNING"]
    return study


@pytest.mark.postgres
def test_two_workers_retry_a_killed_worker_s_trial_and_the_storage_password_appears_nowhere(
    postgres_url, data_dir, tmp_path
):
    """A worker (as on another machine) is SIGKILLed mid-trial; the two workers of one command on PostgreSQL
    (the journal's are in the SIGTERM test's rerun) finish the study and retry its trial with the same params. The
    server trusts local connections, so a password (with a raw '@') is accepted and ignored."""
    user, host = postgres_url.split("://", 1)[1].split("@", 1)
    storage = f"postgresql://{user}:pw@leak9@{host}"
    long_trials = ["--trainer.max_epochs", "40", "--trainer.min_epochs", "40", "--n-trials", "3"]
    command = tune_command(tmp_path, data_dir, storage, *long_trials)
    logs = [open(tmp_path / f"{name}.log", "w+") for name in ("victim", "workers")]  # noqa: SIM115
    victim = subprocess.Popen(command, stdout=logs[0], stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "out" / "trials").glob("trial_*/resume/last.ckpt")):
        time.sleep(0.2)  # the victim is training and has saved an epoch
    workers = subprocess.Popen([*command, "--workers", "2", "--seed", "7"], stdout=logs[1], stderr=subprocess.STDOUT)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    done = workers.wait(timeout=300)
    output = (tmp_path / "workers.log").read_text()
    assert done == 0, output[-3000:]
    study = check_study(postgres_url, tmp_path, n_trials=3, workers=2)
    check_two_workers(output, study, tmp_path)
    (killed,) = study.get_trials(states=(TrialState.FAIL,))
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == killed.number]
    assert retry.state in FINISHED and retry.params == killed.params
    assert retry.user_attrs["resumed_from_epoch"] >= 1
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert client.get_run(killed.user_attrs["mlflow_run_id"]).info.status == "FAILED"

    assert ":***@" in output  # the storage is named, masked
    assert "leak9" not in output + (tmp_path / "victim.log").read_text()
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert b"leak9" not in path.read_bytes(), path
    for r in client.search_runs([client.get_experiment_by_name("s").experiment_id]):
        assert "leak9" not in repr(r.data.params) + repr(r.data.tags), r.info.run_name


def check_two_workers(output: str, study: optuna.Study, tmp_path) -> None:
    """Each trial line names its worker, Lightning's banners are quiet, both workers ran trials of their own
    proposals (a retry repeats its trial's), and the outputs are written."""
    trial_lines = [line for line in output.splitlines() if re.match(r"(\[worker \d\] )?trial +\d+ ", line)]
    assert trial_lines and all(line.startswith(("[worker 1] ", "[worker 2] ")) for line in trial_lines)
    assert "GPU available" not in output
    assert len({line[:10] for line in trial_lines}) == 2
    proposed = [t for t in study.trials if "retry_of" not in t.user_attrs]
    assert len({tuple(t.params.values()) for t in proposed}) == len(proposed)
    assert (tmp_path / "out" / "trials.csv").exists() and (tmp_path / "out" / "best.ckpt").exists()


@pytest.mark.postgres
def test_losing_the_database_mid_study_stops_with_one_message_and_keeps_the_trials(postgres_url, data_dir, tmp_path):
    command = tune_command(tmp_path, data_dir, postgres_url, "--n-trials", "50", "--trainer.min_epochs", "10")
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115
    worker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        with contextlib.suppress(KeyError):  # the study appears with the first trial
            if load(postgres_url).get_trials(states=FINISHED):
                break
    name = postgres_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # the server refuses this database from now on
        connection.execute(sqlalchemy.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        connection.execute(
            sqlalchemy.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        )
        assert worker.wait(timeout=120) != 0
        output = (tmp_path / "worker.log").read_text()
        assert "tagger: error: lost the Optuna storage" in output and "Traceback" not in output.split("error: lost")[1]
        connection.execute(sqlalchemy.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
    admin.dispose()
    kept = load(postgres_url).get_trials(states=FINISHED)
    assert kept and all(t.value is not None for t in kept if t.state == TrialState.COMPLETE)


def test_sigterm_to_the_main_process_alone_stops_its_workers_and_the_same_command_resumes(data_dir, tmp_path):
    """`kill` of the main process (SIGTERM, as a scheduler stops a job; one Ctrl-C, SIGINT, goes the same way,
    test_tune_command.py): its workers fail their running trials, queued for retries, and stop; the outputs are
    written. The same command again runs the retries on two workers of the journal file and closes the study's
    runs. (A worker whose main process is SIGKILLed stops as on Ctrl-C too: test_workers.py.)"""
    storage = f"journal:{tmp_path}/optuna.journal"
    long_trials = ["--trainer.max_epochs", "40", "--trainer.min_epochs", "40", "--n-trials", "2"]
    command = tune_command(tmp_path, data_dir, storage, "--workers", "2", *long_trials)
    log = open(tmp_path / "main.log", "w+")  # noqa: SIM115 (a pipe left unread would block the processes)
    main = subprocess.Popen(command, stdout=log, stderr=log)
    workers, deadline = [], time.monotonic() + 240  # worker start-up: seconds on a quiet machine
    try:
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.3)
            with contextlib.suppress(KeyError, ValueError):  # the study appears with the first trial
                trials = load(storage).get_trials(states=(TrialState.RUNNING,))
                # written once its run has started
                workers = [int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in trials if "worker" in t.user_attrs]
        assert len(workers) == 2, (tmp_path / "main.log").read_text()
        main.send_signal(signal.SIGTERM)
        assert main.wait(timeout=120) != 0  # then it writes the outputs
    finally:
        for pid in [main.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    output = (tmp_path / "main.log").read_text()
    assert "stopping at the next batch (SIGTERM again to stop at once)" in output
    assert "Rerun the same command to resume" in output and "Traceback" not in output, output
    assert not any(alive(pid) for pid in workers)  # no orphan trains on
    states = [t.state for t in load(storage).trials]
    assert states.count(TrialState.FAIL) == 2 and states.count(TrialState.WAITING) == 2  # retries queued
    assert (tmp_path / "out" / "summary.md").exists()

    rerun = subprocess.run(command, timeout=240, capture_output=True, text=True)  # the same command again
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    study = check_study(storage, tmp_path, n_trials=2, workers=2)  # no run left RUNNING
    check_two_workers(rerun.stdout + rerun.stderr, study, tmp_path)  # two workers on a journal file
    retried = sorted(t.user_attrs["retry_of"] for t in study.get_trials(states=FINISHED) if "retry_of" in t.user_attrs)
    assert retried == [t.number for t in study.get_trials(states=(TrialState.FAIL,))]  # each stopped trial ran again
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (parent,) = [r for r in client.search_runs([client.get_experiment_by_name("s").experiment_id])
                 if "mlflow.parentRunId" not in r.data.tags]  # fmt: skip
    assert parent.info.status == "FINISHED"
