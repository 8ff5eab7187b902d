"""The public dataset: fetched once into the data folder, verified by sha256, never re-fetched."""

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.files import write_atomic

_BASE = "https://raw.githubusercontent.com/GokuMohandas/Made-With-ML/07389b7750ba14336fdaef89eaf1babbbee0a3d7/datasets"
DATA_DIR_ENV = "TAGGER_DATA_DIR"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str


PROJECTS = RemoteFile(
    "projects.json",
    f"{_BASE}/projects.json",
    "6e2db7baf8b830fcb5340df589b65b96cda9a8ea2a56a765c89ba6f7dba15b4a",
)
TAGS = RemoteFile("tags.json", f"{_BASE}/tags.json", "609171cd43a6466b7a2aa82bd25fc5a55755d5ba6e52e0981f81f7c73ee4e9aa")


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """An explicit folder wins, then $TAGGER_DATA_DIR, then ./data."""
    return Path(data_dir or os.environ.get(DATA_DIR_ENV) or "data")


def ensure_file(data_dir: Path, remote: RemoteFile, timeout: float = 30.0) -> Path:
    """Return the local file, downloading and verifying it first if it is absent.

    A file already present is used as is: users may bring their own (or a subset) of the data.
    """
    path = data_dir / remote.name
    if path.exists():
        return path
    where = (
        f"put {PROJECTS.name} and {TAGS.name} into {data_dir.resolve()} "
        f"(or point --data.data_dir / ${DATA_DIR_ENV} at a folder that has them)"
    )
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise TaggerError(
            f"{path} is missing and could not be downloaded from {remote.url} ({reason}); {where}"
        ) from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != remote.sha256:
        raise TaggerError(
            f"downloaded {remote.url} but its sha256 is {digest}, expected {remote.sha256}; "
            f"nothing was saved. Try again later, or {where}"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, payload)  # a half-written file never looks like a finished download
    return path


def ensure_dataset(data_dir: Path) -> Path:
    """The folder, with projects.json and tags.json in it (downloaded and verified if absent)."""
    for remote in (PROJECTS, TAGS):
        ensure_file(data_dir, remote)
    return data_dir
