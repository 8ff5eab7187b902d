"""Optuna storages for one or many workers: heartbeats, retries of dead workers' trials, exact admission."""

import fcntl
import os
import socket
import zlib
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from tagger.errors import TaggerError
from tagger.tune.tracking import redact, retry_racing

DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "oracle")
JOURNAL = "journal:"
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # who runs a trial, recorded on it


def scheme(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


def check_database(url: str, option: str) -> None:
    """Connect once, so a wrong URL fails in a second with one message; no-op for non-database URLs."""
    if scheme(url) not in DATABASE_SCHEMES:
        return
    try:
        engine = sqlalchemy.create_engine(url, connect_args={} if url.startswith("sqlite") else {"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:  # drivers raise their own types for the same problem
        first = redact(str(err)).strip().splitlines()[0]
        raise TaggerError(f"cannot connect to {redact(url)}: {first}; check {option}") from None


def make_storage(
    url: str,
    workers: int,
    on_stale: Callable[[optuna.Study, FrozenTrial], None],
    heartbeat_interval: int,
    grace_period: int,
) -> optuna.storages.BaseStorage:
    """`journal:FILE` (processes on one machine) or a database URL (one or several machines).

    Databases run with heartbeats: a trial whose worker stops beating for grace_period seconds is
    marked FAILED by the next worker that looks, and on_stale queues its retry.
    """
    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if scheme(url) == "sqlite" and workers > 1:
        raise TaggerError(
            f"{redact(url)} cannot take {workers} parallel workers: SQLite locks the whole file for each write, "
            "and workers fail with 'database is locked'. Use --storage journal:optuna.journal on one machine, "
            "or a PostgreSQL URL for several machines"
        )
    return retry_racing(  # workers starting together on a fresh database all create its tables
        lambda: RDBStorage(
            url,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=on_stale,
        )
    )


class StaleTrials(RetryHeartbeatStaleTrialCallback):
    """Queues a retry (same params) of a trial whose worker died, after closing its MLflow run."""

    def __init__(self, max_retry: int, close_run: Callable[[FrozenTrial], None]) -> None:
        super().__init__(max_retry=max_retry)
        self.close_run = close_run

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.close_run(trial)
        super().__call__(study, trial)


def fail_dead_local_trials(study: optuna.Study, on_stale: StaleTrials) -> None:
    """Storages without heartbeats (journal files): fail RUNNING trials whose worker process on this
    machine is gone, and queue their retries."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).partition(":")
        dead = worker_host == host and pid.isdigit() and not _alive(int(pid))
        if dead and study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            on_stale(study, study._storage.get_trial(trial._trial_id))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Admission:
    """One worker at a time counts the trials and creates its own, so a study ends with exactly n_trials
    finished ones: a file lock beside a journal, a PostgreSQL advisory lock, else nothing to do.

    Held from the count until the new trial exists (the objective releases it first thing).
    """

    def __init__(self, url: str, study_name: str) -> None:
        self.url, self.held = url, False
        self._file = self._connection = None
        if url.startswith(JOURNAL):
            self._file = open(f"{url.removeprefix(JOURNAL)}.admission.lock", "a")  # noqa: SIM115 (kept open)
        elif scheme(url) == "postgresql":
            self._key = zlib.crc32(study_name.encode())
            self._connection = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool).connect()

    def _lock(self, take: bool) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_EX if take else fcntl.LOCK_UN)
        elif self._connection is not None:
            function = "pg_advisory_lock" if take else "pg_advisory_unlock"
            self._connection.execute(sqlalchemy.text(f"SELECT {function}(:k)"), {"k": self._key})
            self._connection.commit()

    def acquire(self) -> None:
        self._lock(True)
        self.held = True

    def release(self) -> None:
        if self.held:
            self._lock(False)
            self.held = False

    def close(self) -> None:
        self.release()
        if self._file is not None:
            self._file.close()
        if self._connection is not None:
            self._connection.close()
