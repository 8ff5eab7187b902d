"""Loading a saved model: Tagger (a checkpoint written by fit) and load_model (a checkpoint or a baseline).

What tagger.predict and tagger.evaluate run; kept apart from their command lines so that `--help` answers
without importing torch, Lightning and scikit-learn.
"""

import importlib
import inspect
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tagger.baseline_model import Baseline, is_npz
from tagger.data.cleaning import TextCleaning
from tagger.data.datamodule import Encoder, TaggerDataModule, encoder_from_state
from tagger.data.pretrained_tokens import PretrainedTokens
from tagger.data.tokenizer import Tokenizer
from tagger.errors import TaggerError
from tagger.files import atomic
from tagger.models import Network
from tagger.models.cnn import CharCNN
from tagger.module import THRESHOLD_TUNED, TaggerModule
from tagger.tagging import TaggingModel, check_finite


def _module_arguments(hparams: dict, path: str | Path, encoder: Encoder) -> dict:
    """TaggerModule's arguments from a checkpoint's hyperparameters, the network class imported by its path.

    fit saves the network as plain data, ``net: {class_path, init_args}``; nothing is unpickled. Checkpoints
    written before the network was pluggable hold CharCNN's arguments at the top level, beside the module's.
    """
    hparams = {k: v for k, v in hparams.items() if not k.startswith("_")}  # LightningCLI's bookkeeping
    if "net" not in hparams:
        own = inspect.signature(TaggerModule).parameters
        flat = {k: v for k, v in hparams.items() if k not in own}
        return {k: v for k, v in hparams.items() if k in own} | {"net": partial(CharCNN, **flat)}
    return hparams | {"net": _network(hparams["net"], path, encoder)}


def _network(spec: dict, path: str | Path, encoder: Encoder) -> Network:
    """The class named by ``spec``, bound to its init_args; refused unless it is an nn.Module. A pretrained encoder
    (tagger.models.encoder) is built from the config its checkpoint carries, never from its name: neither the hub
    nor the model folder is needed where a saved model predicts."""
    class_path = spec["class_path"]
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise TaggerError(f"{path}: network class {class_path} cannot be imported") from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TaggerError(f"{path}: network class {class_path} is not an nn.Module subclass")
    carried = {"config": encoder.config} if isinstance(encoder, PretrainedTokens) else {}
    return partial(cls, **spec.get("init_args", {}) | carried)


def check_tuned(ckpt: dict, path: str | Path) -> None:
    """Refuse a checkpoint whose threshold is still fit's starting 0.5: its tags and scores would look valid."""
    if ckpt.get(THRESHOLD_TUNED) is False:
        raise TaggerError(
            f"{path}: its decision threshold was never tuned (a checkpoint saved during training, or fit was "
            "killed); use the best checkpoint of a finished or Ctrl-C'd fit, or fit again"
        )


def read_checkpoint(path: str | Path, name: str | Path | None = None, **load_args) -> dict:
    """A checkpoint written by fit, refused in one line (named ``name``, default ``path``) when it is missing,
    damaged, foreign (a baseline .npz included), or holds NaN or infinite weights: the one check of every loader
    of a checkpoint (predict, evaluate, the MLflow model and `cli test`). Only plain tensors and containers are
    unpickled.

    Args:
        load_args: more arguments to torch.load (map_location, mmap).
    """
    name = path if name is None else name
    if is_npz(path):
        raise TaggerError(f"{name}: a baseline (.npz), not a checkpoint; give a .ckpt written by fit")
    try:
        ckpt = torch.load(path, weights_only=True, **load_args)
    except FileNotFoundError:
        raise TaggerError(f"{name}: model file not found") from None
    except Exception as err:  # torch raises several types for corrupt or foreign files
        reason = str(err).splitlines()[0].split(". ")[0]  # torch's first sentence; the rest is advice
        raise TaggerError(f"{name}: not a loadable tagger checkpoint ({reason}); use a .ckpt written by fit") from None
    if not isinstance(ckpt, dict):
        raise TaggerError(f"{name}: holds a {type(ckpt).__name__}, not a tagger checkpoint; use a .ckpt written by fit")
    if TaggerDataModule.__qualname__ not in ckpt or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise TaggerError(f"{name}: not a tagger checkpoint (no vocabulary/classes); use a .ckpt written by fit")
    check_finite(name, ckpt["state_dict"])
    return ckpt


@dataclass
class Tagger(TaggingModel):
    """A trained model with everything it needs: cleaning, encoder (tokenizer, TF-IDF or hybrid), class names,
    threshold."""

    module: TaggerModule
    cleaning: TextCleaning
    encoder: Encoder
    classes: list[str]
    label_mapping: dict
    split_settings: dict | None = None
    trained_on: frozenset[str] | None = None

    @classmethod
    def load(cls, path: str | Path, map_location: str = "cpu") -> "Tagger":
        """Load a checkpoint written by fit; only plain tensors and containers are unpickled."""
        ckpt = read_checkpoint(path, map_location=map_location)
        data = ckpt[TaggerDataModule.__qualname__]
        check_tuned(ckpt, path)
        encoder = encoder_from_state(data)
        module = TaggerModule(**_module_arguments(ckpt["hyper_parameters"], path, encoder))
        try:
            module.load_state_dict(ckpt["state_dict"])
        except RuntimeError as err:  # torch's message: a header line, then one line per mismatch
            first = (str(err).splitlines()[1:2] or [str(err)])[0].strip().rstrip(".")
            raise TaggerError(
                f"{path}: its weights do not fit the network its settings describe ({first}); use a checkpoint as "
                "fit wrote it"
            ) from None
        module.eval()
        # data["min_length"] of older checkpoints is not needed: a CNN pads to its largest filter itself.
        return cls(
            module=module,
            cleaning=TextCleaning(**data["cleaning"]),
            encoder=encoder,
            classes=list(data["classes"]),
            label_mapping=data["label_mapping"],
            split_settings=data.get("split"),  # checkpoints written before evaluate --split lack these two
            trained_on=frozenset(data["trained_on"]) if "trained_on" in data else None,
        )

    @property
    def threshold(self) -> float | list[float]:
        return self.module.threshold_value()

    def predict_proba(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """(N, C) probabilities; texts are cleaned and encoded as in training (a pretrained encoder reads them
        raw)."""
        return self.proba_of_cleaned([self.cleaning(t) for t in texts], texts, batch_size)

    @torch.no_grad()
    def proba_of_cleaned(self, texts: list[str], raw: list[str], batch_size: int = 256) -> np.ndarray:
        """predict_proba of texts cleaned already (a corpus's: cleaning twice would stem twice), given with the
        raw texts they were cleaned from."""
        if not texts:  # TF-IDF refuses an empty batch; predict gets nothing on empty stdin
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        encoded = self.encoder.encode_all(texts, raw)
        order = np.arange(len(texts))
        if isinstance(self.encoder, Tokenizer | PretrainedTokens):
            order = np.argsort([len(e) for e in encoded])  # similar lengths together: less padding
        probs = np.zeros((len(texts), len(self.classes)), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            inputs = self.encoder.collate([encoded[i] for i in rows]).to(self.module.device)
            probs[rows] = self.module(inputs).float().sigmoid().cpu().numpy()
        return probs


# What a model file for predict holds: the weights (threshold included), the hyperparameters that rebuild
# the network, the data's encoder, classes and cleaning, and the tuned-threshold mark. A fit checkpoint also
# holds the optimiser, scheduler and loop state a resume needs (Adam keeps two moments per weight: ~2x more).
INFERENCE_KEYS = (
    "state_dict",
    "hyper_parameters",
    TaggerDataModule.__qualname__,
    THRESHOLD_TUNED,
    "pytorch-lightning_version",
)


def save_lean(checkpoint: str | Path, target: Path) -> None:
    """The inference part of a fit checkpoint as ``target``, written whole or not at all; it loads like the
    checkpoint in predict, evaluate and `tagger.cli test`."""
    full = torch.load(checkpoint, map_location="cpu", weights_only=True)
    with atomic(target) as part:
        torch.save({key: full[key] for key in INFERENCE_KEYS if key in full}, part)


def load_model(path: str | Path) -> TaggingModel:
    """A baseline written by tagger.baseline or a checkpoint written by fit, told apart by content."""
    return Baseline.load(path) if is_npz(path) else Tagger.load(path)
