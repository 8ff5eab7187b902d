"""Where a model came from, recorded on every MLflow run: the code's git commit (and whether the tree had
uncommitted changes), the data files' sha256, the split sizes and seed, and the settings a user compares."""

import hashlib
import subprocess
import sys
from functools import cache
from pathlib import Path

from tagger.data.datamodule import TaggerDataModule
from tagger.data.download import PROJECTS, TAGS

# MLflow's reserved tags (mlflow.utils.mlflow_tags), which its UI shows as a run's source; spelled out here
# because only the tracker and the MLflow model import mlflow (tests/test_architecture.py).
GIT_COMMIT = "mlflow.source.git.commit"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"

# Fixed settings worth comparing across runs (the searched ones are a trial's own params).
FIXED = ("data.batch_size", "data.min_tag_freq", "data.features", "data.seed", "trainer.max_epochs", "seed_everything")


@cache
def _git(*args: str) -> str | None:
    """A git answer about the source tree tagger runs from; None outside a checkout (an installed wheel)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


@cache
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lineage(dm: TaggerDataModule) -> dict[str, str]:
    """MLflow tags: the code, data and split behind a run. The source as MLflow's own runs record it (the program
    run, a local process), so that runs made by MlflowClient (a study's) carry it too; no commit outside a
    checkout (an installed wheel), as in MLflow."""
    program = sys.argv[0] if sys.argv else ""
    tags = {SOURCE_NAME: program or "<console>", SOURCE_TYPE: "LOCAL"}
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags[GIT_COMMIT] = commit
        tags["git.dirty"] = str(bool(_git("status", "--porcelain", "--untracked-files=no")))
    for remote in (PROJECTS, TAGS):
        tags[f"data.{remote.name}.sha256"] = _sha256(Path(dm.data_dir) / remote.name)
    splits = dm.corpus.splits
    tags |= {f"split.{name}": str(len(rows)) for name, rows in splits.items()} | {"split.seed": str(dm.seed)}
    return tags


def fixed_settings(config: dict) -> dict[str, str]:
    """The FIXED keys of a resolved fit config (nested dicts), as MLflow params."""
    found = {}
    for key in FIXED:
        value = config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        found[key] = str(value)
    return found
