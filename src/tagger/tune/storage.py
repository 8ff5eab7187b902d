"""Optuna storages for one or many workers: the URL parsed once, heartbeats and retries of dead workers' trials,
and which errors mean the storage is gone."""

import contextlib
import copy
import errno
import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import optuna
import sqlalchemy
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.storages.journal._storage import JournalOperation  # the journal's format: its record kinds
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from tagger.errors import TaggerError
from tagger.redact import first_line, quote_password, redact
from tagger.tune.record import RDB, Journal, Outcome, TrialRecord

T = TypeVar("T")
JOURNAL = "journal:"
DATABASES = ("sqlite", "postgresql", "mysql")
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # who runs a trial, recorded on it
STORAGE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM)  # a file not written


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
        url = quote_password(url)
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

    def __str__(self) -> str:
        return self.redacted

    @property
    def absolute(self) -> str:
        """The storage as named from any folder (its password masked): what tells two storages apart."""
        return str(self.path.absolute()) if self.path else redact(absolute(self.url))


def absolute(url: str) -> str:
    """A SQLite URL whose file is named relative to the working folder, named by its absolute path: the same store
    wherever the command runs. Any other URL as it is."""
    try:
        parsed = make_url(quote_password(url))
    except Exception:
        return url
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path(database).absolute())).render_as_string(hide_password=False)


def check_database(url: str, option: str) -> None:
    """Connect once, so a wrong URL fails in a second with one message; no-op for non-database URLs. An SQLite
    file is not opened (that would create it): its folder must exist and be writable."""
    try:
        parsed = make_url(quote_password(url))
    except Exception:
        return
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        folder = Path(parsed.database or ".").resolve().parent
        if not os.access(folder, os.W_OK):
            raise TaggerError(
                f"cannot write the SQLite file {redact(url)}: {folder} is missing or not writable; check {option}"
            )
    elif backend in DATABASES:
        try:
            engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
            with engine.connect():
                pass
            engine.dispose()
        except Exception as err:  # drivers raise their own types for the same problem
            raise TaggerError(f"cannot connect to {redact(url)}: {first_line(err)}; check {option}") from None


class Retry(RetryHeartbeatStaleTrialCallback):
    """Queues a retry (same params, same user attributes) without its dead attempt's worker: else, until its new
    worker claims it, another worker would find it running under a dead process and fail it."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        unclaimed = copy.copy(trial)
        unclaimed.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != "worker"}
        super().__call__(study, unclaimed)


class StaleTrials(Retry):
    """Queues a retry of a trial whose worker died, after telling ``on_dead`` (which closes its tracked run, once
    there is a tracker)."""

    def __init__(self, max_retry: int) -> None:
        super().__init__(max_retry=max_retry)
        self.on_dead: Callable[[optuna.Study, FrozenTrial], None] = lambda study, trial: None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.on_dead(study, trial)
        super().__call__(study, trial)


def make_storage(
    storage: StorageURL, workers: int, on_stale: StaleTrials, heartbeat_interval: int, grace_period: int
) -> optuna.storages.BaseStorage:
    """Databases run with heartbeats: a trial whose worker stops beating for grace_period seconds is marked
    FAILED when the next trial of any worker starts, and on_stale queues its retry."""
    if storage.kind == "journal":
        try:
            check_journal(storage.path)
            storage.path.parent.mkdir(parents=True, exist_ok=True)
            with storage.path.open("a"):  # Optuna would fail on the first trial's write, after the set-up
                pass
        except OSError as err:
            raise TaggerError(
                f"cannot write the journal file {storage.path} ({err.strerror or err}); pick a writable --storage"
            ) from None
        return Journal(JournalFileBackend(str(storage.path)))
    if storage.kind == "sqlite" and workers > 1:
        raise TaggerError(
            f"{storage} cannot take {workers} parallel workers: SQLite locks the whole file for each write, "
            "and workers fail with 'database is locked'. Use --storage optuna.journal (a journal file) on one machine, "
            "or a PostgreSQL URL for several machines"
        )
    return retry_racing(  # workers starting together on a fresh database all create its tables
        lambda: RDB(
            storage.url,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=on_stale,
        ),
        races=(sqlalchemy.exc.SQLAlchemyError,),
    )


def check_journal(path: Path) -> None:
    """Every line of a journal file is one JSON record of a kind Optuna knows. Optuna skips a truncated last line (a
    process killed while writing it, or a full disk) and appends after it, which corrupts the file for good: stop
    before that, naming the fix."""
    if not path.exists():
        return
    lock = JournalFileSymlinkLock(str(path))  # Optuna's own: a line another worker is writing is not cut off
    lock.acquire()
    try:
        lines = path.read_bytes().split(b"\n")
    finally:
        lock.release()
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if number == len(lines):  # not ended by a newline
            raise TaggerError(
                f"journal file {path} ends in a truncated line {number} (a process was killed while writing it); "
                f"remove that line (e.g. sed -i '$ d' {path}) and rerun: the trial it belonged to is retried"
            )
        try:
            record = json.loads(line)
        except ValueError:
            raise TaggerError(
                f"journal file {path}, line {number}, is not a valid record; restore the file from a copy, or start "
                "a new study (another --storage or --study-name)"
            ) from None
        if not isinstance(record, dict) or record.get("op_code") not in list(JournalOperation):
            raise TaggerError(  # Optuna would stop at it with "AssertionError: Should not reach."
                f"journal file {path}, line {number}, is not a record this Optuna {optuna.__version__} can apply (no "
                "known op_code: written by another version or program?); restore the file from a copy, or run the "
                "Optuna that wrote it"
            )


def fail_dead_local_trials(study: optuna.Study, on_stale: StaleTrials) -> None:
    """Storages without heartbeats (journal files): fail RUNNING trials whose worker process on this machine is
    gone, and queue their retries."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).partition(":")
        if worker_host == host and pid.isdigit() and not alive(int(pid)):
            with contextlib.suppress(ValueError, RuntimeError):  # another worker failed it first
                study.tell(trial.number, state=TrialState.FAIL)
                on_stale(study, study.get_trials(deepcopy=False)[trial.number])


def failed_elsewhere(study: optuna.Study) -> FrozenTrial | None:
    """A trial of this process that another worker failed, taking its heartbeats for stale (a busy machine): Optuna
    then refuses to record its end ("Cannot tell a FAIL trial")."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if TrialRecord.of(trial).worker == WORKER and Outcome.of(trial) is Outcome.WORKER_DIED:
            return trial
    return None


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


def _chain(err: BaseException | None) -> Iterator[BaseException]:
    """err and the errors behind it (Optuna can mask a storage failure with an error of its own while failing)."""
    seen = set()
    while err is not None and id(err) not in seen:
        yield err
        seen.add(id(err))
        err = err.__cause__ or err.__context__


def storage_error(err: BaseException | None) -> BaseException | None:
    """The database failure behind err, if any."""
    for cause in _chain(err):
        if isinstance(cause, STORAGE_ERRORS):
            internal = isinstance(cause, optuna.exceptions.StorageInternalError)
            return cause.__cause__ if internal and cause.__cause__ else cause
    return None


def lost_storage(err: BaseException, storage: StorageURL) -> str | None:
    """One line for a storage that failed mid-study (the trials that finished stay in it), None for another error.
    A journal on a full disk: Optuna's write fails, then its failing of the trial masks that with "AssertionError:
    Should not reach."; the cut-off record the write left must go before Optuna appends after it."""
    if storage.kind == "journal":
        failed = next((e for e in _chain(err) if isinstance(e, OSError) and e.errno in WRITE_ERRNOS), None)
        if failed is not None:
            fix = "free space on its disk" if failed.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
            fix += f", remove its cut-off last line (sed -i '$ d' {storage.path})" if _ends_cut(storage.path) else ""
            return (
                f"cannot write the journal file {storage.path} ({failed.strerror or failed}); the trials that "
                f"finished are kept in it: {fix} and rerun the same command (the trial that was running is retried)"
            )
    if (lost := storage_error(err)) is not None:
        return (
            f"lost the Optuna storage {storage} ({first_line(lost)}); the trials that finished are stored there. "
            "Rerun the same command when it is reachable again to resume"
        )
    return None


def _ends_cut(path: Path) -> bool:
    """Does the file end in a line without its newline?"""
    with contextlib.suppress(OSError), path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell():
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    return False


def retry_racing(fn: Callable[[], T], races: tuple[type[BaseException], ...], attempts: int = 4) -> T:
    """Set-up that races with other workers starting at the same moment (all creating the tables of a fresh
    database, or the same experiment) succeeds once the winner is done: retry those errors after a random
    pause; any other error fails at once."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except races:
            time.sleep(0.5 + random.random() * 2)
    return fn()
