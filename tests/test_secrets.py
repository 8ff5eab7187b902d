"""A password in a tracking URI reaches no file a fit writes: config.yaml beside the logs, the copy logged to
MLflow, params and tags."""

from pathlib import Path

import pytest
import sqlalchemy
from conftest import tiny_args
from lightning.pytorch.cli import SaveConfigCallback

from tagger.fit_cli import cli_main

PASSWORD = "hunter2secret"


def files_holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_the_saved_config_masks_the_tracking_uri_s_password(data_dir, tmp_path):
    """The config-saving code with such a value (no server: the trainer is built, not run)."""
    uri = f"postgresql://bob:{PASSWORD}@127.0.0.1:1/mlflow"
    built = cli_main([*tiny_args(data_dir, tmp_path), "--mlflow.tracking_uri", uri], run=False)
    (saver,) = [c for c in built.trainer.callbacks if isinstance(c, SaveConfigCallback)]
    saver.setup(built.trainer, built.model, "fit")
    (config,) = tmp_path.rglob("config.yaml")
    assert "tracking_uri: postgresql://bob:***@127.0.0.1:1/mlflow" in config.read_text()
    assert not files_holding(tmp_path, PASSWORD)


@pytest.mark.postgres
def test_a_tracked_fit_writes_and_logs_no_password(data_dir, tmp_path, postgres_url):
    uri = sqlalchemy.make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    cli_main(["fit", *tiny_args(data_dir, tmp_path), "--mlflow.tracking_uri", uri])  # MLflow's files: ./mlruns
    configs = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("config.yaml")}
    assert configs == {"lightning_logs", "mlruns"}  # beside the logs, and the run's artifact
    assert not files_holding(tmp_path, PASSWORD)
    engine = sqlalchemy.create_engine(uri)
    with engine.connect() as db:
        for table in ("params", "tags", "model_version_tags"):
            leaks = db.execute(sqlalchemy.text(f"SELECT count(*) FROM {table} WHERE value LIKE '%{PASSWORD}%'"))
            assert leaks.scalar() == 0, table
    engine.dispose()
