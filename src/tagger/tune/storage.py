"""Database URLs: a quick reachability check, so a wrong URL fails in a second with one message."""

import sqlalchemy

from tagger.errors import TaggerError
from tagger.tune.tracking import redact

DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "oracle")


def check_database(url: str, option: str) -> None:
    """Connect once; no-op for URLs that are not databases (files, http tracking servers)."""
    if url.split(":", 1)[0].split("+", 1)[0] not in DATABASE_SCHEMES:
        return
    try:
        engine = sqlalchemy.create_engine(
            url, connect_args={"connect_timeout": 5} if "sqlite" not in url else {}
        )
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:  # drivers raise their own types for the same problem
        first = redact(str(err)).strip().splitlines()[0]
        raise TaggerError(f"cannot connect to {redact(url)}: {first}; check {option}") from None
