"""Shared fixtures: a small real-data folder and a tiny model trained once per session."""

import functools
import json
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy
import torch
import yaml

from tagger.data.download import ensure_dataset
from tagger.errors import TaggerError

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
POSTGRES = os.environ.get("TAGGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")  # trust auth


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
    """One torch thread here and in every process a test starts: the models are tiny, and the test workers already
    fill the cores (threads beyond them spin and wait on each other)."""
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(autouse=True, scope="session")
def _embedding_cache_in_a_temporary_folder(tmp_path_factory):
    """Frozen embeddings cached for the session only, never in the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAGGER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A random 2-layer, 32-wide BERT with a WordPiece tokenizer, as a Hugging Face model folder."""
    from tiny_bert import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_models_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    """A models folder where the tiny BERT stands in for all-MiniLM-L6-v2."""
    models = tmp_path_factory.mktemp("models")
    shutil.copytree(tiny_bert_dir, models / "all-MiniLM-L6-v2")
    return models


@pytest.fixture
def tiny_minilm(tiny_models_dir, monkeypatch) -> Path:
    """$TAGGER_MODELS_DIR set to tiny_models_dir: the shipped configs naming `sentence-transformers/all-MiniLM-L6-v2`
    load the tiny BERT, fast and offline."""
    monkeypatch.setenv("TAGGER_MODELS_DIR", str(tiny_models_dir))
    return tiny_models_dir / "all-MiniLM-L6-v2"


@pytest.fixture(autouse=True, scope="session")
def _session_in_a_temporary_folder(tmp_path_factory):
    """Session fixtures run before each test's chdir: what they write to the working folder (MLflow's ./mlruns,
    the default artifact root of an experiment a study creates) lands in a temporary folder too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("session"))
        yield


@pytest.fixture(autouse=True)
def _in_a_temporary_folder(tmp_path, monkeypatch):
    """Whatever a test writes to the working folder (MLflow's ./mlruns, lightning_logs) lands in its tmp_path."""
    monkeypatch.chdir(tmp_path)


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


@functools.cache
def _migrated_store() -> Path:
    """An MLflow SQLite store with its tables made, once per test run (the migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    path = Path(tempfile.mkdtemp(prefix="mlflow-template-")) / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def tracking_store(folder: Path) -> str:
    """The URI of a fresh MLflow store in folder: a copy of the migrated one."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_store(), folder / "mlflow.db")
    return f"sqlite:///{folder}/mlflow.db"


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
            "tracking_uri": tracking_store(tmp_path),
            "output_dir": str(tmp_path / "out"),
            "cv": 1,
            "noise_repeats": 0,
            "threads": 1,  # tiny models: a second thread only competes with the other test worker's
        }
        | overrides
    )


@pytest.fixture(scope="session")
def trained(data_dir, tmp_path_factory):
    """A tiny model fitted through the CLI: (cli, best checkpoint path)."""
    from tagger.fit_cli import cli_main

    root = tmp_path_factory.mktemp("fit")
    cli = cli_main(["fit", *tiny_args(data_dir, root)])
    return cli, Path(cli.trainer.checkpoint_callback.best_model_path)


class PruneTrials:
    """A deterministic pruner: prunes the given trial numbers at their first report."""

    def __init__(self, numbers: set[int]) -> None:
        self.numbers = numbers

    def prune(self, study, trial) -> bool:
        return trial.number in self.numbers


@pytest.fixture(scope="session")
def single_study(data_dir, tmp_path_factory) -> SimpleNamespace:
    """One real single-split study shared by many assertions: 3 trials of a tiny CNN, the second pruned."""
    from tagger.tune.runner import run_study

    root = tmp_path_factory.mktemp("single_study")
    space = {
        "model.lr": {"type": "float", "low": 1e-9, "high": 3e-2, "log": True},
        "model.net.dropout_p": {"type": "float", "low": 0.0, "high": 0.5},
    }
    options = tune_options(root, space)
    args = tiny_args(data_dir, root, "--trainer.max_epochs", "3")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = run_study(options, args, pruner=PruneTrials({1}))
    return SimpleNamespace(study=study, options=options, args=args, root=root, warnings=caught)


FAMILIES = {
    "model.net": {
        "type": "categorical",
        "choices": ["tagger.models.cnn.CharCNN", "test_network_plugin.MeanBag"],
        "when": {
            "tagger.models.cnn.CharCNN": {"model.net.num_filters": {"type": "int", "low": 2, "high": 6}},
            "test_network_plugin.MeanBag": {"model.net.dim": {"type": "int", "low": 2, "high": 16}},
        },
    },
    "model.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


@pytest.fixture(scope="session")
def cv_study(data_dir, tmp_path_factory) -> SimpleNamespace:
    """One real cross-validated study (2 folds) shared by many assertions: the lesson's CNN and a network defined
    in the tests (test_network_plugin.MeanBag), then a trial pruned after its first fold; its winner registered,
    its noise measured on one other cut."""
    import optuna

    from tagger.tune.runner import run_study

    root = tmp_path_factory.mktemp("cv_study")
    options = tune_options(root, FAMILIES, cv=2, noise_repeats=1, register_model="tagger-study")
    study = optuna.create_study(study_name="t", storage=options.storage, direction="maximize")
    study.enqueue_trial({"model.net": "tagger.models.cnn.CharCNN", "model.net.num_filters": 3, "model.lr": 5e-3})
    study.enqueue_trial({"model.net": "test_network_plugin.MeanBag", "model.net.dim": 5, "model.lr": 5e-3})
    args = tiny_args(data_dir, root, "--trainer.max_epochs", "2")
    study = run_study(options, args, pruner=PruneTrials({2}))
    return SimpleNamespace(study=study, options=options, args=args, root=root)


TEXTS = ["Graph neural networks for node classification", "GANs in TensorFlow", "🙂"]


@pytest.fixture(scope="session")
def registered(trained, tmp_path_factory):
    """The tiny fitted model's lean file logged to a fresh SQLite store and registered as version 1."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from tagger.loading import save_lean
    from tagger.registry import log_model

    _, best = trained
    folder = tmp_path_factory.mktemp("registry")
    lean = folder / "model.ckpt"
    save_lean(best, lean)
    uri = tracking_store(folder)
    run = MlflowClient(uri).create_run(MlflowClient(uri).create_experiment("e", artifact_location=str(folder / "art")))
    info = log_model(lean, uri, run.info.run_id, register_model="tagger-test", tags={"val_f1": 0.5})
    yield uri, lean, info
    mlflow.set_tracking_uri(None)


@pytest.fixture
def postgres_url():
    """A fresh database on the local server (trust auth: any password is accepted), dropped afterwards."""
    admin = sqlalchemy.create_engine(
        f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        connection = admin.connect()
    except sqlalchemy.exc.OperationalError as err:
        message = f"no PostgreSQL server at {POSTGRES} ({str(err).splitlines()[0]}); .ci/run starts one"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"tagger_test_{uuid.uuid4().hex[:8]}"
    connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    yield f"{POSTGRES}/{name}"
    connection.execute(sqlalchemy.text(f"DROP DATABASE {name} WITH (FORCE)"))
    connection.close()
    admin.dispose()


def served_by_mlflow(model_file: Path, texts: list[str], folder: Path) -> tuple[np.ndarray, str]:
    """The (N, C) probabilities of ``model_file`` logged to a fresh MLflow store in ``folder`` and loaded back as a
    pyfunc, and the logged model's URI: what `mlflow models serve` answers."""
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from tagger.registry import log_model

    uri = f"sqlite:///{folder}/mlflow.db"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("e", artifact_location=str(folder / "art")))
    info = log_model(model_file, uri, run.info.run_id)
    try:
        mlflow.set_tracking_uri(uri)
        served = mlflow.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"text": texts}))
    finally:
        mlflow.set_tracking_uri(None)
    return np.array([list(row.values()) for row in served["probabilities"]]), info.model_uri
