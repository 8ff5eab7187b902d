"""Shared fixtures: a small real-data folder and a tiny model trained once per session."""

import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from tagger.data.download import ensure_dataset
from tagger.errors import TaggerError

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def development_data(env: str | None, shared: Path, cache: Path) -> Path:
    """$TAGGER_DATA_DIR, else ../shared/data beside the checkout, else the pinned public download cached in
    ./data (a fresh clone elsewhere); without internet, the download's one-line message."""
    folder = Path(env) if env else shared if (shared / "projects.json").exists() else cache
    try:
        return ensure_dataset(folder)
    except TaggerError as err:
        pytest.fail(str(err))


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The first 400 development projects (real texts and tags) and the full tags.json."""
    source = development_data(os.environ.get("TAGGER_DATA_DIR"), SHARED_DATA, REPO / "data")
    folder = tmp_path_factory.mktemp("data")
    projects = json.loads((source / "projects.json").read_text())[:400]
    (folder / "projects.json").write_text(json.dumps(projects))
    (folder / "tags.json").write_text((source / "tags.json").read_text())
    return folder


def tiny_args(data_dir: Path, root: Path, *extra: str) -> list[str]:
    """CLI arguments for a seconds-long fit of a tiny model on the small data."""
    return [
        "--config", str(REPO / "configs" / "cnn.yaml"),
        "--data.data_dir", str(data_dir),
        "--data.min_tag_freq", "10",
        "--data.batch_size", "16",
        "--model.net.embedding_dim", "8",
        "--model.net.num_filters", "4",
        "--model.net.hidden_dim", "8",
        "--model.net.filter_sizes", "[1, 2, 3]",
        "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "2",
        "--trainer.limit_train_batches", "3",
        "--trainer.limit_val_batches", "2",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.default_root_dir", str(root),
        *extra,
    ]  # fmt: skip


def config_args(config: str, data_dir: Path, root: Path, *extra: str) -> list[str]:
    """CLI arguments for a shipped config (configs/<config>) on the small data, quiet, on the CPU."""
    return [
        "--config", str(REPO / "configs" / config),
        "--data.data_dir", str(data_dir),
        "--data.min_tag_freq", "10",
        "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.default_root_dir", str(root),
        *extra,
    ]  # fmt: skip


def tune_options(tmp_path: Path, space: dict, **overrides):
    """TuneOptions of a small single-split study kept in tmp_path: its search space file, storage, tracking
    store and outputs."""
    from tagger.tune.options import TuneOptions

    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    return TuneOptions(
        **{
            "n_trials": 3,
            "study_name": "t",
            "storage": f"sqlite:///{tmp_path}/optuna.db",
            "search_space": str(tmp_path / "space.yaml"),
            "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
            "output_dir": str(tmp_path / "out"),
            "cv": 1,
        }
        | overrides
    )


@pytest.fixture(scope="session")
def trained(data_dir, tmp_path_factory):
    """A tiny model fitted through the CLI: (cli, best checkpoint path)."""
    from tagger.cli import cli_main

    root = tmp_path_factory.mktemp("fit")
    cli = cli_main(["fit", *tiny_args(data_dir, root)])
    return cli, Path(cli.trainer.checkpoint_callback.best_model_path)
