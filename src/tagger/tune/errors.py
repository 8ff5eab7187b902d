"""Failures of shared storage: which errors mean "the database is gone", and the start-up races to retry."""

import random
import time
from collections.abc import Callable
from typing import TypeVar

import optuna
import sqlalchemy

T = TypeVar("T")

STORAGE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError)


def storage_error(err: BaseException | None) -> BaseException | None:
    """The storage failure behind err, if any (Optuna can mask it with an error of its own while failing)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, STORAGE_ERRORS):
            return err.__cause__ if isinstance(err, optuna.exceptions.StorageInternalError) and err.__cause__ else err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


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
