"""What tagger.predict and tagger.evaluate need from a trained model, whichever kind it is."""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tagger.data.cleaning import TextCleaning
from tagger.errors import TaggerError


def _non_finite(weights: object) -> int:
    """How many entries of an array are NaN or infinite."""
    if hasattr(weights, "isfinite"):  # a torch tensor, maybe bfloat16, which NumPy lacks
        return int((~weights.isfinite()).sum())
    return int((~np.isfinite(np.asarray(weights, dtype=float))).sum())


def check_finite(path: str | Path, weights: Mapping[str, object]) -> None:
    """Refuse a model file whose weights hold NaN or inf: it would tag with NaN probabilities (which strict JSON
    parsers reject) and score 0 without a word. Checked wherever a model file is loaded.

    Args:
        weights: name -> array (NumPy or torch), as the file holds them.
    """
    bad = {name: n for name, w in weights.items() if (n := _non_finite(w))}
    if bad:
        where = ", ".join(f"{name} ({n})" for name, n in bad.items())
        raise TaggerError(
            f"{path}: its weights hold NaN or infinite values, in {where}; the training diverged or the file "
            "was damaged: train the model again"
        )


class TaggingModel(ABC):
    """A model that carries its own cleaning, class names, decision threshold and label mapping.

    label_mapping holds LabelMapping's settings (exclude, map_aliases, add_parents), so that evaluate maps a
    file's tags as training did.
    """

    classes: list[str]
    threshold: float | list[float]  # one for all tags, or one per tag
    cleaning: TextCleaning
    label_mapping: dict
    # carried by checkpoints of fit (TaggerDataModule.state_dict), None in other model files:
    split_settings: dict | None = None  # how fit cut its data into splits, to cut it again
    trained_on: frozenset[str] | None = None  # the fingerprints of the cleaned texts it was trained on

    @abstractmethod
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(N, C) probabilities for raw texts (cleaned here as in training)."""

    def predict(self, texts: list[str]) -> list[dict]:
        """For each text: the predicted tags (probability >= threshold) and every class probability.

        A text that cleans to nothing (empty, only stopwords, symbols, emoji or non-Latin script) gets no tags and
        a note saying why: the model would see no input, and any tags would be the same for all such texts.
        """
        results = []
        thresholds = np.broadcast_to(np.asarray(self.threshold, dtype=float), (len(self.classes),))
        for text, p in zip(texts, self.predict_proba(texts), strict=True):
            if not self.cleaning(text):
                note = f"nothing is left after cleaning ({self.cleaning.emptied(text)})"
                results.append({"text": text, "tags": [], "probabilities": {}, "note": note})
                continue
            results.append(
                {
                    "text": text,
                    "tags": [c for c, pc, t in zip(self.classes, p, thresholds, strict=True) if pc >= t],
                    "probabilities": {c: round(float(pc), 4) for c, pc in zip(self.classes, p, strict=True)},
                }
            )
        return results
