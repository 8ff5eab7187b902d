"""Frozen sentence embeddings of raw texts from a pretrained encoder, cached on disk.

The hybrid features (tagger.data.features.HybridFeatures) put ``alpha`` times these beside the TF-IDF columns.
The encoder never trains, so a text's embedding depends only on the encoder and the pooling settings: each is
computed once and kept under the user's cache folder ($TAGGER_CACHE_DIR, else $XDG_CACHE_HOME/tagger, else
~/.cache/tagger), never beside the data, which may be read-only. A study's trials and folds then cost what the
TF-IDF family's cost.
"""

import functools
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from tagger.errors import TaggerError
from tagger.pretrained import MODELS_DIR, Encoder, Pooling, carried, fingerprint, load, pool, rebuild

CACHE_DIR = "TAGGER_CACHE_DIR"


@dataclass(frozen=True)
class EmbeddingSettings:
    """The frozen encoder of ``--data.features hybrid`` and how its token states become one vector per text.

    Args:
        encoder: a Hugging Face model: a hub id (found in $TAGGER_MODELS_DIR, the local cache or the hub) or
            a local folder.
        pooling: "mean" over the real tokens, or the first ([CLS]) token.
        normalize: L2-normalise each vector (sentence-transformers' MiniLM models are used so).
        max_length: tokens read per text; longer texts are cut.
        alpha: the embedding block's scale beside the L2-normalised TF-IDF blocks: with an L2 penalty, how
            much the model leans on it.
        batch_size: texts encoded at once.
    """

    encoder: str = "sentence-transformers/all-MiniLM-L6-v2"
    pooling: Pooling = "mean"
    normalize: bool = True
    max_length: int = 256
    alpha: float = 1.0
    batch_size: int = 32

    def __post_init__(self) -> None:
        """Refused when the config is instantiated, before any encoder is loaded (see TfidfSettings)."""
        if not self.encoder.strip():
            raise TaggerError("--data.embedding.encoder is empty; name a Hugging Face model (hub id or folder)")
        for name in ("max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise TaggerError(f"--data.embedding.{name} {getattr(self, name)}: give at least 1")
        if not self.alpha > 0:
            raise TaggerError(f"--data.embedding.alpha {self.alpha}: give a positive scale, e.g. 1.0")

    @property
    def what_embeds(self) -> dict:
        """The settings an embedding depends on (not alpha, applied after, nor batch_size)."""
        return {"pooling": self.pooling, "normalize": self.normalize, "max_length": self.max_length}


def cache_root() -> Path:
    """Where embeddings are kept: $TAGGER_CACHE_DIR, else the user's cache folder."""
    if folder := os.environ.get(CACHE_DIR):
        return Path(folder).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "tagger"


class EmbeddingCache:
    """One file per (encoder, settings, text) holding the vector's float32 bytes (no header: reading a thousand
    back takes a tenth of a second, np.load's parsing several times that), written whole (a private temporary
    file renamed into place, so parallel workers never see half a file). An entry that does not read back as a
    finite vector of the encoder's width is computed again; a folder that cannot be written is warned about once
    and then left alone."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writable = True

    def _path(self, key: str, text: str) -> Path:
        digest = hashlib.sha256(text.encode()).hexdigest()
        return self.folder / "embeddings" / key / digest[:2] / f"{digest}.f32"

    def get(self, key: str, text: str, dim: int) -> np.ndarray | None:
        try:
            content = self._path(key, text).read_bytes()
        except OSError:
            return None
        if len(content) != 4 * dim:  # truncated, or not ours
            return None
        vector = np.frombuffer(content, dtype="<f4")
        return vector if np.isfinite(vector).all() else None

    def put(self, key: str, text: str, vector: np.ndarray) -> None:
        if not self.writable:
            return
        path = self._path(key, text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, part = tempfile.mkstemp(dir=path.parent, suffix=".part")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(np.asarray(vector, dtype="<f4").tobytes())
                os.replace(part, path)
            except BaseException:
                Path(part).unlink(missing_ok=True)
                raise
        except OSError as err:
            self.writable = False
            warnings.warn(
                f"embeddings are not cached: cannot write in {self.folder} ({err}); set ${CACHE_DIR}", stacklevel=2
            )


@functools.lru_cache(maxsize=2)
def _loaded(name: str, models_dir: str | None) -> tuple[Encoder, dict]:
    """An encoder and its carried state, loaded once per process for every DataModule a study builds (per
    $TAGGER_MODELS_DIR, which can change what a hub id names)."""
    encoder = load(name)
    return encoder, carried(encoder)


class FrozenEmbedder:
    """A pretrained encoder used as it is: raw texts → (N, D) pooled float32 vectors (alpha not applied)."""

    def __init__(
        self, encoder: Encoder, state: dict, settings: EmbeddingSettings, cache: EmbeddingCache | None
    ) -> None:
        self.encoder, self.state, self.settings, self.cache = encoder, state, settings, cache

    @classmethod
    def load(cls, settings: EmbeddingSettings, cache: EmbeddingCache | None) -> "FrozenEmbedder":
        encoder, state = _loaded(settings.encoder, os.environ.get(MODELS_DIR))
        return cls(encoder, state, settings, cache)

    @property
    def dim(self) -> int:
        return self.encoder.model.config.hidden_size

    @cached_property
    def key(self) -> str:
        """The cache key of this encoder and pooling: its weights' and tokenizer's fingerprint and the settings."""
        what = json.dumps([fingerprint(self.state), self.settings.what_embeds], sort_keys=True)
        return hashlib.sha256(what.encode()).hexdigest()[:32]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) vectors: cached ones read back, the others computed and cached."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            vector = self.cache.get(self.key, text, self.dim) if self.cache else None
            if vector is None:
                missing.append(i)
            else:
                vectors[i] = vector
        if missing:
            vectors[missing] = self.compute([texts[i] for i in missing])
            if self.cache:
                for i in missing:
                    self.cache.put(self.key, texts[i], vectors[i])
        return vectors

    @torch.inference_mode()
    def compute(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) vectors from the encoder, in batches of similar lengths (less padding; the mask keeps padding
        out of each vector, so a batch's company does not change it)."""
        tokenizer, model = self.encoder
        settings = self.settings
        max_length = min(settings.max_length, tokenizer.model_max_length)  # no more than its position embeddings
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), settings.batch_size):
            rows = order[start : start + settings.batch_size]
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(model.device)
            hidden = model(**batch).last_hidden_state  # (B, L, H)
            pooled = pool(hidden, batch["attention_mask"], settings.pooling, settings.normalize)
            vectors[rows] = pooled.float().cpu().numpy()
        return vectors

    def to_dict(self) -> dict:
        return {"settings": asdict(self.settings), "encoder": self.state}

    @classmethod
    def from_dict(cls, saved: dict) -> "FrozenEmbedder":
        """From a checkpoint alone (no cache: a served model embeds what it is sent)."""
        encoder = rebuild(saved["encoder"])
        return cls(encoder, saved["encoder"], EmbeddingSettings(**saved["settings"]), None)
