"""Files written whole or not at all: a full disk or a kill mid-write leaves the previous file (or none)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A path to write instead of ``path``; it replaces ``path`` once the block ends without an error."""
    part = path.with_name(path.name + ".part")
    try:
        yield part
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    with atomic(path) as part:
        part.write_bytes(data) if isinstance(data, bytes) else part.write_text(data)
