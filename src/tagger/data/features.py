"""TF-IDF word and character n-gram features, fitted on the train split and stored as plain data, and the
hybrid of them with a frozen pretrained embedding.

What the baseline's logistic regression and the n-gram networks (tagger.models.ngram) read instead of
token ids. The fitted state is each vectorizer's settings, its terms in column order and its IDF weights:
lists and arrays that a checkpoint (weights_only) or an .npz (allow_pickle=False) carries without pickle.
Every encoder's ``encode_all(texts, raw)`` takes the cleaned texts and the raw ones (title + " " +
description); the n-grams read the cleaned texts, a pretrained encoder the raw ones.
"""

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.feature_extraction.text import TfidfVectorizer

from tagger.data.embeddings import EmbeddingCache, EmbeddingSettings, FrozenEmbedder
from tagger.errors import TaggerError


@dataclass(frozen=True)
class TfidfSettings:
    """Which n-grams make the features (word n-grams carry topic words; character n-grams catch spelling
    variants such as gan/gans or pytorch/torch).

    Args:
        word_ngrams: smallest and largest word n-gram.
        char_ngrams: smallest and largest character n-gram.
        char_analyzer: "char_wb" takes character n-grams inside word boundaries, "char" across them too.
        min_df: drop n-grams found in fewer training texts than this.
        max_df: drop n-grams found in more than this share of the training texts.
        sublinear_tf: 1 + log(count) instead of the count.
    """

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    char_analyzer: Literal["char_wb", "char"] = "char_wb"
    min_df: int = 1
    max_df: float = 1.0
    sublinear_tf: bool = True

    def __post_init__(self) -> None:
        """Refused when the config is instantiated, before any data is read: scikit-learn would fail at fit time
        with a traceback, or (an n-gram of 0) train on one empty-string feature. jsonargparse builds a dataclass
        group after parsing, where a ValueError is a traceback and a TaggerError the entry point's one line."""
        for name, (low, high) in (("word_ngrams", self.word_ngrams), ("char_ngrams", self.char_ngrams)):
            if not 1 <= low <= high:
                raise TaggerError(
                    f"--data.tfidf.{name} [{low}, {high}] is not an n-gram range; give [smallest, largest] with "
                    "1 <= smallest <= largest, e.g. [1, 2]"
                )
        if self.min_df < 1:
            raise TaggerError(f"--data.tfidf.min_df {self.min_df}: give at least 1 (training texts an n-gram is in)")
        if not 0 < self.max_df <= 1:
            raise TaggerError(
                f"--data.tfidf.max_df {self.max_df}: give a share of the training texts, above 0 and at most 1"
            )

    def vectorizers(self) -> dict[str, TfidfVectorizer]:
        common = {"min_df": self.min_df, "max_df": self.max_df, "sublinear_tf": self.sublinear_tf}
        return {
            "word": TfidfVectorizer(analyzer="word", ngram_range=tuple(self.word_ngrams), **common),
            "char": TfidfVectorizer(analyzer=self.char_analyzer, ngram_range=tuple(self.char_ngrams), **common),
        }


def _no_terms(name: str, settings: TfidfSettings, texts: int) -> str:
    """Why settings that parse leave a vectorizer without terms, and which options to change."""
    if settings.min_df > texts:
        reason = f"min_df {settings.min_df} is more than the {texts} training texts"
    elif settings.max_df * texts < settings.min_df:
        reason = f"max_df {settings.max_df} of the {texts} training texts is fewer than min_df {settings.min_df}"
    else:
        reason = f"none is in {settings.min_df} to {settings.max_df:.0%} of the {texts} training texts"
    return (
        f"the TF-IDF settings leave no {name} n-grams ({reason}); "
        "lower --data.tfidf.min_df or raise --data.tfidf.max_df"
    )


def settings_of(vectorizer: TfidfVectorizer) -> dict:
    """Every parameter, so that the saved state alone rebuilds the vectorizer (dtype is a class, and the default)."""
    return {k: v for k, v in vectorizer.get_params().items() if k != "dtype"}


def terms_of(vectorizer: TfidfVectorizer) -> list[str]:
    """The fitted vocabulary in column order."""
    return sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)


def rebuild(settings: dict, terms: Sequence[str], idf: np.ndarray) -> TfidfVectorizer:
    """A fitted vectorizer from what settings_of and terms_of wrote and its idf_ (checked against the terms)."""
    vectorizer = TfidfVectorizer(**settings | {"ngram_range": tuple(settings["ngram_range"])})
    vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
    vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
    return vectorizer


class TfidfFeatures:
    """Fitted vectorizers side by side: a text becomes one sparse row of their concatenated columns."""

    def __init__(self, vectorizers: dict[str, TfidfVectorizer]) -> None:
        self.vectorizers = vectorizers

    @classmethod
    def fit(cls, texts: Sequence[str], settings: TfidfSettings) -> "TfidfFeatures":
        vectorizers = settings.vectorizers()
        for name, vectorizer in vectorizers.items():
            try:
                vectorizer.fit(texts)
            except ValueError:  # the settings are valid (__post_init__), so no n-gram is left on these texts
                raise TaggerError(_no_terms(name, settings, len(texts))) from None
        return cls(vectorizers)

    def __len__(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers.values())

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """(N, F) TF-IDF rows, each vectorizer's rows L2-normalised on their own (as a FeatureUnion does)."""
        return hstack([v.transform(texts) for v in self.vectorizers.values()]).tocsr()

    def encode_all(self, texts: Sequence[str], raw: Sequence[str] | None = None) -> list[csr_matrix]:
        """One (1, F) row per cleaned text; transformed together, which is far faster than one by one."""
        return _rows(self.transform(texts))

    @staticmethod
    def collate(rows: Sequence[csr_matrix]) -> torch.Tensor:
        """(B, F) float32 as a sparse CSR tensor: a row holds a few hundred of tens of thousands of columns."""
        batch = vstack(rows, format="csr")
        with warnings.catch_warnings():  # torch's once-per-process notes that sparse CSR support is in beta
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                torch.from_numpy(batch.indptr).long(),
                torch.from_numpy(batch.indices).long(),
                torch.from_numpy(batch.data.astype(np.float32)),
                batch.shape,
            )

    def to_dict(self) -> dict:
        # the terms as one JSON string: tens of thousands of strings cost a checkpoint's unpickler ~10x more
        return {
            name: {"settings": settings_of(v), "terms": json.dumps(terms_of(v)), "idf": torch.from_numpy(v.idf_)}
            for name, v in self.vectorizers.items()
        }

    @classmethod
    def from_dict(cls, state: dict) -> "TfidfFeatures":
        return cls(
            {name: rebuild(s["settings"], _terms(s["terms"]), np.asarray(s["idf"])) for name, s in state.items()}
        )


def _rows(matrix: csr_matrix) -> list[csr_matrix]:
    return [matrix[i] for i in range(matrix.shape[0])]


class HybridFeatures:
    """TF-IDF n-grams of the cleaned text beside ``alpha`` x a frozen pooled embedding of the raw text, as one
    sparse row: still a linear model's input, which the L-BFGS solver takes to its optimum as it does TF-IDF.
    (B, F + D) with F TF-IDF columns and D the encoder's width."""

    def __init__(self, tfidf: TfidfFeatures, embedder: FrozenEmbedder) -> None:
        self.tfidf, self.embedder = tfidf, embedder

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        settings: TfidfSettings,
        embedding: EmbeddingSettings,
        cache: EmbeddingCache | None,
    ) -> "HybridFeatures":
        """TF-IDF fitted on the (cleaned) train texts; the encoder is loaded (first: a missing one fails at once),
        never fitted."""
        embedder = FrozenEmbedder.load(embedding, cache)
        return cls(TfidfFeatures.fit(texts, settings), embedder)

    def __len__(self) -> int:
        return len(self.tfidf) + self.embedder.dim

    def encode_all(self, texts: Sequence[str], raw: Sequence[str] | None = None) -> list[csr_matrix]:
        if raw is None or len(raw) != len(texts):
            raise ValueError("hybrid features need each cleaned text's raw text (title + description)")
        embedded = self.embedder.settings.alpha * self.embedder.embed(raw)  # (N, D)
        return _rows(hstack([self.tfidf.transform(texts), csr_matrix(embedded)]).tocsr())

    collate = staticmethod(TfidfFeatures.collate)

    def uncached(self) -> "HybridFeatures":
        """The same features embedding every text they are given, as a loaded model's do: what serving costs."""
        embedder = self.embedder
        return HybridFeatures(self.tfidf, FrozenEmbedder(embedder.encoder, embedder.state, embedder.settings, None))

    def to_dict(self) -> dict:
        return {"tfidf": self.tfidf.to_dict(), "embedding": self.embedder.to_dict()}

    @classmethod
    def from_dict(cls, state: dict) -> "HybridFeatures":
        return cls(TfidfFeatures.from_dict(state["tfidf"]), FrozenEmbedder.from_dict(state["embedding"]))


def _terms(saved: str | list[str]) -> list[str]:
    """Terms as to_dict writes them (JSON text), or as a list (checkpoints written before)."""
    return json.loads(saved) if isinstance(saved, str) else list(saved)
