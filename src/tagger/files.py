"""Files written whole or not at all (a full disk or a kill mid-write leaves the previous file, or none), into
folders checked to take them before any work."""

import tempfile
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


def unwritable(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (made if missing), or None when they can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        return err.strerror or str(err)
    return None
