"""Optuna storages for one or many workers: the URL parsed once, heartbeats, retries of dead workers' trials,
and the admission lock that makes a shared study end with exactly n_trials."""

import contextlib
import fcntl
import json
import os
import re
import socket
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from tagger.errors import TaggerError
from tagger.tune.errors import retry_racing

JOURNAL = "journal:"
DATABASES = ("sqlite", "postgresql", "mysql")
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # who runs a trial, recorded on it


def _quote_password(url: str) -> str:
    """A password with a raw '@' or ':' percent-encoded, so the URL parses as its author meant it: the host
    follows the last '@' of the authority (SQLAlchemy would otherwise split at the first)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    userinfo, _, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon:
        userinfo = f"{user}:{quote(unquote(password), safe='')}"
    return f"{scheme}://{userinfo}@{host}{slash}{path}"


# A URL in running text: up to a space, quote or bracket, without the sentence's closing punctuation.
_URL = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"<>()]*[^\s'\"<>().,;:]")


def _redact_url(url: str) -> str:
    try:
        return make_url(_quote_password(url)).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: mask whatever stands between "user:" and the last "@"
        return re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)


def redact(text: str) -> str:
    """The text with the password of every URL in it masked (a URL alone, or inside an error message), for
    messages, params and files."""
    return _URL.sub(lambda match: _redact_url(match.group()), text)


def first_line(err: BaseException) -> str:
    """An error's first line with passwords masked (its type when it has no message): for one-line errors."""
    text = redact(str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


@dataclass(frozen=True)
class StorageURL:
    """An Optuna storage, parsed once: a journal file (processes on one machine) or a database URL."""

    url: str  # as given, password percent-encoded
    kind: str  # "journal", "sqlite", "postgresql" or "mysql"
    redacted: str
    path: Path | None = None  # the journal file
    host: str | None = None

    @classmethod
    def parse(cls, url: str) -> "StorageURL":
        """journal:FILE, or a plain FILE path (what Optuna's CLI and optuna-dashboard take), or a database URL."""
        if url.startswith(JOURNAL) or "://" not in url:
            path = Path(url.removeprefix(JOURNAL))
            return cls(url, "journal", str(path), path=path)
        url = _quote_password(url)
        try:
            parsed = make_url(url)
        except Exception:
            parsed = None
        if parsed is None or parsed.get_backend_name() not in DATABASES:
            raise TaggerError(
                f"--storage {redact(url)} is not a storage tagger.tune can use; give a journal FILE (one machine), "
                "sqlite:///FILE (one worker) or postgresql://USER@HOST/DB (several machines)"
            )
        return cls(url, parsed.get_backend_name(), redact(url), host=parsed.host)

    @property
    def is_database(self) -> bool:
        return self.kind != "journal"

    def __str__(self) -> str:
        return self.redacted


def check_database(url: str, option: str) -> None:
    """Connect once, so a wrong URL fails in a second with one message; no-op for non-database URLs.

    An SQLite file is not opened (that would create it): its folder must exist and be writable.
    """
    try:
        parsed = make_url(_quote_password(url))
    except Exception:
        return
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        folder = Path(parsed.database or ".").resolve().parent
        if not os.access(folder, os.W_OK):
            raise TaggerError(
                f"cannot write the SQLite file {redact(url)}: {folder} is missing or not writable; check {option}"
            )
        return
    if backend not in DATABASES:
        return
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:  # drivers raise their own types for the same problem
        raise TaggerError(f"cannot connect to {redact(url)}: {first_line(err)}; check {option}") from None


def make_storage(
    storage: StorageURL,
    workers: int,
    on_stale: Callable[[optuna.Study, FrozenTrial], None],
    heartbeat_interval: int,
    grace_period: int,
) -> optuna.storages.BaseStorage:
    """Databases run with heartbeats: a trial whose worker stops beating for grace_period seconds is marked
    FAILED by the next worker that looks, and on_stale queues its retry."""
    if storage.kind == "journal":
        check_journal(storage.path)
        storage.path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(storage.path)))
    if storage.kind == "sqlite" and workers > 1:
        raise TaggerError(
            f"{storage} cannot take {workers} parallel workers: SQLite locks the whole file for each write, "
            "and workers fail with 'database is locked'. Use --storage optuna.journal (a journal file) on one machine, "
            "or a PostgreSQL URL for several machines"
        )
    return retry_racing(  # workers starting together on a fresh database all create its tables
        lambda: RDBStorage(
            storage.url,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=on_stale,
        ),
        races=(sqlalchemy.exc.SQLAlchemyError,),
    )


def check_journal(path: Path) -> None:
    """Every line of a journal file is one JSON record ending in a newline. Optuna skips a truncated last
    line (a process killed while writing) and then appends after it, which corrupts the file for good: stop
    before that, saying which line and how to recover."""
    if not path.exists():
        return
    lock = JournalFileSymlinkLock(str(path))  # Optuna's own: a line another worker is writing is not cut off
    lock.acquire()  # blocks; a lock left by a killed process is broken after Optuna's grace period
    try:
        lines = path.read_bytes().split(b"\n")
    finally:
        lock.release()
    for number, line in enumerate(lines, start=1):
        truncated = number == len(lines) and line
        try:
            if line and not truncated:
                json.loads(line)
        except ValueError:
            raise TaggerError(
                f"journal file {path}, line {number}, is not a valid record; restore the file from a copy, or start "
                "a new study (another --storage or --study-name)"
            ) from None
        if truncated:
            raise TaggerError(
                f"journal file {path} ends in a truncated line {number} (a process was killed while writing it); "
                f"remove that line (e.g. sed -i '$ d' {path}) and rerun: the trial it belonged to is retried"
            )


class StaleTrials(RetryHeartbeatStaleTrialCallback):
    """Queues a retry (same params) of a trial whose worker died, after telling on_dead (which closes its
    tracked run, once there is a tracker)."""

    def __init__(self, max_retry: int) -> None:
        super().__init__(max_retry=max_retry)
        self.on_dead: Callable[[FrozenTrial], None] = lambda trial: None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.on_dead(trial)
        super().__call__(study, trial)


def fail_dead_local_trials(study: optuna.Study, on_stale: StaleTrials) -> None:
    """Storages without heartbeats (journal files): fail RUNNING trials whose worker process on this
    machine is gone, and queue their retries."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).partition(":")
        dead = worker_host == host and pid.isdigit() and not alive(int(pid))
        if dead and study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            on_stale(study, study._storage.get_trial(trial._trial_id))


def alive(pid: int) -> bool:
    """Is the process running? A zombie has exited: a killed worker whose parent is gone too stays one where
    nothing reaps orphans (PID 1 of many containers), and must still count as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # /proc is Linux's; elsewhere a signalled process counts as alive
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    return True


class Admission:
    """One worker at a time counts the trials and creates its own, so a study ends with exactly n_trials
    finished ones: a file lock beside a journal, a PostgreSQL advisory lock, else nothing to do.

    A context manager: held from the count until the new trial exists.
    """

    def __init__(self, storage: StorageURL, study_name: str) -> None:
        self.held = False
        self._file = self._connection = None
        if storage.kind == "journal":
            self._file = open(f"{storage.path}.admission.lock", "a")  # noqa: SIM115 (kept open)
        elif storage.kind == "postgresql":
            self._key = zlib.crc32(study_name.encode())
            self._connection = sqlalchemy.create_engine(storage.url, poolclass=sqlalchemy.pool.NullPool).connect()

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
        if not self.held:
            return
        self.held = False
        # A lost connection: the server ended its session and with it the advisory lock; the error that lost
        # it is the one to report, not this one.
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
            self._lock(False)

    def __enter__(self) -> "Admission":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def close(self) -> None:
        self.release()
        if self._file is not None:
            self._file.close()
        if self._connection is not None:
            self._connection.close()
