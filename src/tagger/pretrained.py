"""Pretrained Hugging Face encoders: the one place that finds, loads, pools, carries and rebuilds them.

A model is named the Hugging Face way, a hub id or a local folder. A folder is used as it is; a hub id is
looked up in ``$TAGGER_MODELS_DIR/<last part of the id>`` first (development copies beside the checkout), then
in the local Hugging Face cache and on the hub. A run never waits on the hub's retries: one short request says
whether the hub answers at all, and without it only the cache counts.

What a checkpoint carries to rebuild an encoder offline is plain data (``torch.load(weights_only=True)``
reads it): the config as JSON text, the tokenizer's files as bytes, and the weights as tensors.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from huggingface_hub import constants
from huggingface_hub.utils import get_session
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from tagger.errors import TaggerError

Pooling = Literal["mean", "cls"]
MODELS_DIR = "TAGGER_MODELS_DIR"  # folder of development copies, each named as the last part of its hub id
HUB_PROBE_SECONDS = 3.0  # one request, no retries: the hub answers in well under a second when it is there


class Encoder(NamedTuple):
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel


class Source(NamedTuple):
    """Where from_pretrained reads a model: a folder or a hub id, and whether only local files may be used."""

    where: str
    local_only: bool


def _looks_like_a_path(name: str) -> bool:
    return Path(name).is_absolute() or name.startswith((".", "~")) or name.count("/") > 1


def _hub_answers() -> bool:
    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_SECONDS)
    except Exception:  # any failure to connect (DNS, refused, timeout, proxy): the hub is not there for us
        return False
    return True


def resolve(name: str) -> Source:
    """Where ``name`` loads from: a local folder as is, else ``$TAGGER_MODELS_DIR/<last part>``, else the hub id
    (the cache only when HF_HUB_OFFLINE=1 or the hub does not answer)."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return Source(str(folder), True)
    if _looks_like_a_path(name):
        raise TaggerError(f"encoder {name}: no such folder; give a Hugging Face model folder or a hub id")
    models_dir = os.environ.get(MODELS_DIR)
    if models_dir and (copy := Path(models_dir) / name.rstrip("/").rpartition("/")[2]).is_dir():
        return Source(str(copy), True)
    return Source(name, constants.HF_HUB_OFFLINE or not _hub_answers())


def _missing(name: str, source: Source, err: Exception) -> TaggerError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if source.where == name and source.local_only:
        offline = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else "the hub cannot be reached"
        return TaggerError(
            f"encoder {name} is not in the local Hugging Face cache and {offline}; give a local model folder, put "
            f"one in ${MODELS_DIR}/{name.rpartition('/')[2]}, or run `hf download {name}` on a connected machine"
        )
    return TaggerError(f"encoder {name} ({source.where}) cannot be loaded: {reason}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No "Loading weights" progress bar on stderr (transformers' global switch, put back after)."""
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def load(name: str) -> Encoder:
    """The tokenizer and the encoder (eval mode) named ``name``. Weights the folder lacks (e.g. an unused pooler
    layer) start from a fixed seed, so that two loads of one folder are the same encoder (fingerprint)."""
    source = resolve(name)
    try:
        with _quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            tokenizer = AutoTokenizer.from_pretrained(source.where, local_files_only=source.local_only)
            model = AutoModel.from_pretrained(source.where, local_files_only=source.local_only)
    except (OSError, ValueError) as err:  # what from_pretrained raises for absent or unusable files
        raise _missing(name, source, err) from None
    return Encoder(tokenizer, model.eval())


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling, normalize: bool) -> torch.Tensor:
    """(B, L, H) token states → (B, H): the mean over real tokens (the attention mask; padding never enters)
    or the first ([CLS]) token; optionally L2-normalised, as sentence-transformers does for MiniLM."""
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, dim=-1) if normalize else pooled


def carried_files(encoder: Encoder) -> dict:
    """The config (JSON text) and the tokenizer's files (bytes): with the weights, all a rebuild needs."""
    backend = getattr(encoder.tokenizer, "backend_tokenizer", None)
    if backend is not None:  # a call's padding and truncation stay in a fast tokenizer's file; each call sets its own
        backend.no_padding()
        backend.no_truncation()
    with tempfile.TemporaryDirectory(prefix="tagger-tokenizer-") as folder:
        encoder.tokenizer.save_pretrained(folder)
        files = {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir()) if path.is_file()}
    return {"config": encoder.model.config.to_json_string(), "tokenizer": files}


def carried(encoder: Encoder) -> dict:
    """carried_files plus the weights as tensors: a frozen encoder whole."""
    weights = {name: tensor.detach().cpu().clone() for name, tensor in encoder.model.state_dict().items()}
    return carried_files(encoder) | {"weights": weights}


def rebuild(state: dict) -> Encoder:
    """The encoder of carried (or of carried_files, its weights left for the caller's load_state_dict) from the
    carried data alone: neither the hub nor the original folder is read."""
    with tempfile.TemporaryDirectory(prefix="tagger-encoder-") as folder:
        (Path(folder) / "config.json").write_text(state["config"])
        for name, content in state["tokenizer"].items():
            (Path(folder) / name).write_bytes(content)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_config(config)
    if "weights" in state:
        model.load_state_dict(state["weights"])
    return Encoder(tokenizer, model.eval())


def fingerprint(state: dict) -> str:
    """sha256 of what carried holds (config, tokenizer files, every tensor's name, dtype, shape and bytes): equal
    for the same encoder wherever it was loaded from, different when a weight or a tokenizer file differs."""
    digest = hashlib.sha256(state["config"].encode())
    for name, content in sorted(state["tokenizer"].items()):
        digest.update(name.encode() + b"\0" + content)
    for name, tensor in sorted(state["weights"].items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
