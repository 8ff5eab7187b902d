"""The model's requirements.txt is its whole environment: a fresh virtualenv built from it alone (what
`mlflow models serve --env-manager virtualenv` and `mlflow models build-docker` build) loads the model and tags
texts as tagger.predict does."""

import subprocess
import sys

import pytest
from conftest import TEXTS
from test_registry import model_files, predict_in

from tagger.loading import Tagger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.model_env]


def test_a_fresh_virtualenv_from_the_models_requirements_loads_and_predicts(registered, tmp_path):
    _, lean, _ = registered
    model = model_files(registered, tmp_path / "model")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "-q", "-r", str(model / "requirements.txt")]
    installed = subprocess.run(install, capture_output=True, text=True, timeout=1800)
    assert installed.returncode == 0, installed.stderr[-3000:]
    texts = TEXTS[:2]
    got = predict_in(python, model, texts)
    assert got["tagger"].startswith(str(model / "code"))
    assert got["tags"] == [r["tags"] for r in Tagger.load(lean).predict(texts)]
