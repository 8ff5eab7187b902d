"""A model file as an MLflow model: logged from code (tagger/pyfunc.py, no pickle) with the file as its one
artifact, a signature (a ``text`` string column in; ``tags`` and per-tag ``probabilities`` out) and an input
example; optionally registered in the Model Registry of the tracking store in use."""

from importlib.resources import files
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient

from tagger.loading import load_model

ARTIFACT = "model"  # the artifacts key of the model file in the logged model
EXAMPLE = ["Graph neural networks for node classification in PyTorch", "A GAN that generates faces"]


def outputs(results: list[dict]) -> pd.DataFrame:
    """What the MLflow model (tagger.pyfunc) returns for tagger's predict results."""
    return pd.DataFrame({"tags": [r["tags"] for r in results], "probabilities": [r["probabilities"] for r in results]})


def log_model(
    model_file: Path, tracking_uri: str, run_id: str, register_as: str | None = None, tags: dict | None = None
) -> ModelInfo:
    """Log ``model_file`` (a lean checkpoint or a baseline .npz) as the run's MLflow model ``model``; with
    ``register_as``, a new version of that registered model, carrying ``tags``."""
    example = pd.DataFrame({"text": EXAMPLE})
    signature = infer_signature(example, outputs(load_model(model_file).predict(EXAMPLE)))
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):  # the run's status is set by its owner afterwards
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(files("tagger") / "pyfunc.py"),
            artifacts={ARTIFACT: str(model_file)},
            signature=signature,
            input_example=example,
            registered_model_name=register_as,
            pip_requirements=[],  # served with --env-manager local, where tagger is installed
        )
    if register_as:
        client = MlflowClient(tracking_uri)
        for key, value in (tags or {}).items():
            client.set_model_version_tag(register_as, info.registered_model_version, key, str(value))
    return info
