"""A model file as an MLflow model: logged from code (tagger/pyfunc.py, no pickle) with the file as its one
artifact, tagger's own code and pinned requirements (so it loads where tagger is not installed), a signature (a
``text`` string column, else ``title`` and ``description``, in; ``tags`` and per-tag ``probabilities`` out) and an
input example; optionally registered in the Model Registry of the tracking store in use."""

from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import lightning.pytorch as L
import mlflow
import pandas as pd
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from mlflow.types.schema import ColSpec, Schema
from mlflow.utils.validation import _validate_model_name

from tagger.errors import TaggerError
from tagger.loading import load_model, save_lean

ARTIFACT = "model"  # the artifacts key of the model file in the logged model
# What the MLflow model reads, each column optional: a text, else a title and description (tagger.predict.text_of).
INPUTS = Schema([ColSpec("string", name, required=False) for name in ("text", "title", "description")])
EXAMPLE = ["Graph neural networks for node classification in PyTorch", "A GAN that generates faces"]
# The distributions that loading a model imports (this file, tagger.pyfunc and tagger.loading, what they import,
# and nltk for a model whose cleaning stems; jsonargparse with the extra tagger installs, whose typeshed_client
# it imports when present; transformers and tokenizers, which rebuild a pretrained encoder and its tokenizer);
# the model's requirements.txt pins them to this environment's releases.
# tests/test_registry.py checks the list against what a real load imports.
SERVING_PACKAGES = (
    "mlflow",
    "torch",
    "lightning",
    "torchmetrics",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "threadpoolctl",
    "iterative-stratification",
    "jsonargparse[signatures]",
    "nltk",
    "transformers",
    "tokenizers",
)


def pip_requirements() -> list[str]:
    """SERVING_PACKAGES pinned to the installed releases, without a local build label (torch 2.13.0+cpu gives
    ``torch==2.13.0``): PyPI has no such files, and which build pip takes is the serving machine's index's
    choice (docs/serving.md)."""
    return [f"{name}=={version(name.partition('[')[0]).partition('+')[0]}" for name in SERVING_PACKAGES]


def check_model_name(name: str, option: str) -> None:
    """A name the Model Registry refuses, refused before any training (MLflow's own rule, which the SQL stores
    apply when the model is registered at the end)."""
    try:
        _validate_model_name(name)
    except MlflowException:
        raise TaggerError(
            f"{option} {name!r} is not a registered model name: give a non-blank name without '/' or ':' that "
            "is not '.' and does not start with '..' (e.g. tagger-cnn)"
        ) from None


def outputs(results: list[dict]) -> pd.DataFrame:
    """What the MLflow model (tagger.pyfunc) returns for tagger's predict results."""
    return pd.DataFrame({"tags": [r["tags"] for r in results], "probabilities": [r["probabilities"] for r in results]})


def log_model(
    model_file: Path, tracking_uri: str, run_id: str, register_model: str | None = None, tags: dict | None = None
) -> ModelInfo:
    """Log ``model_file`` (a lean checkpoint or a baseline .npz) as the run's MLflow model ``model``; with
    ``register_model``, a new version of that registered model, carrying ``tags``."""
    example = pd.DataFrame({"text": EXAMPLE})
    signature = infer_signature(example, outputs(load_model(model_file).predict(EXAMPLE)))
    signature.inputs = INPUTS
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):  # the run's status is set by its owner afterwards
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(files("tagger") / "pyfunc.py"),
            artifacts={ARTIFACT: str(model_file)},
            signature=signature,
            input_example=example,
            registered_model_name=register_model,
            pip_requirements=pip_requirements(),
            code_paths=[str(files("tagger"))],  # MLflow puts the model's code/ first on sys.path when it loads
        )
    if register_model:
        client = MlflowClient(tracking_uri)
        for key, value in (tags or {}).items():
            client.set_model_version_tag(register_model, info.registered_model_version, key, str(value))
    return info


class EpochLogger(MLFlowLogger):
    """Curves on an epoch axis (step = epoch, as a user reads them), without a duplicate ``epoch`` metric;
    params without LightningCLI's bookkeeping or the data-derived lists (class weights, positive rates)."""

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        super().log_metrics(metrics, step=int(epoch) if epoch is not None else step)

    def log_hyperparams(self, params) -> None:
        params = {k: v for k, v in dict(params).items() if not k.startswith("_") and k not in DERIVED}
        super().log_hyperparams(params)


DERIVED = ("class_weights", "positive_rates", "vocab_size", "num_classes")  # linked from the data, not chosen


@dataclass(frozen=True)
class FitTracking:
    """`tagger.cli fit --mlflow.tracking_uri URI`: the fit logs to MLflow (params, per-epoch curves) and, once
    the threshold is tuned, its lean best model as the run's MLflow model.

    Args:
        tracking_uri: the MLflow tracking store (e.g. sqlite:///mlflow.db, the study's default); unset: off.
        experiment: the MLflow experiment of the run.
        register_model: also register the model as a new version of this name in the Model Registry.
    """

    tracking_uri: str | None = None
    experiment: str = "tagger-fit"
    register_model: str | None = None

    def logger(self, tags: dict[str, str], run_name: str | None = None) -> MLFlowLogger:
        return EpochLogger(
            experiment_name=self.experiment, tracking_uri=self.tracking_uri, tags=tags, run_name=run_name
        )


class LogBestModel(L.Callback):
    """After fit (in teardown, so after ThresholdTuner's on_fit_end): the best checkpoint's lean file logged
    to the MLflow run of ``logger`` (the fit's), registered as ``register_model`` if given."""

    def __init__(self, tracking: FitTracking, logger: MLFlowLogger) -> None:
        self.tracking = tracking
        self.logger = logger

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        if stage != "fit" or not best or not trainer.is_global_zero or trainer.interrupted:
            return
        lean = Path(best).with_name("model.ckpt")
        save_lean(best, lean)
        config = Path(trainer.log_dir or "") / "config.yaml"  # LightningCLI's resolved config
        if config.is_file():
            MlflowClient(self.tracking.tracking_uri).log_artifact(self.logger.run_id, str(config))
        tags = {"checkpoint": str(Path(best).resolve())}  # valid from any folder
        score = trainer.checkpoint_callback.best_model_score  # a tensor, whose str() is "tensor(0.4742)"
        if score is not None:
            tags["val_loss"] = float(score)
        info = log_model(lean, self.tracking.tracking_uri, self.logger.run_id, self.tracking.register_model, tags)
        where = f"registered as {self.tracking.register_model} version {info.registered_model_version}"
        print(f"model {where if self.tracking.register_model else 'logged'} ({info.model_uri})", flush=True)
