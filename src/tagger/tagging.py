"""What tagger.predict and tagger.evaluate need from a trained model, whichever kind it is."""

from abc import ABC, abstractmethod

import numpy as np

from tagger.data.cleaning import TextCleaning

EMPTY_AFTER_CLEANING = "nothing is left after cleaning (no Latin letters or digits)"


class TaggingModel(ABC):
    """A model that carries its own cleaning, class names, decision threshold and label mapping.

    label_mapping holds LabelMapping's settings (exclude, map_aliases, add_parents), so that evaluate maps a
    file's tags as training did.
    """

    classes: list[str]
    threshold: float | list[float]  # one for all tags, or one per tag
    cleaning: TextCleaning
    label_mapping: dict

    @abstractmethod
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(N, C) probabilities for raw texts (cleaned here as in training)."""

    def predict(self, texts: list[str]) -> list[dict]:
        """For each text: the predicted tags (probability >= threshold) and every class probability.

        A text that cleans to nothing (empty, only symbols, emoji or non-Latin script) gets no tags and a
        note: the model would see no input, and any tags would be the same for all such texts.
        """
        results = []
        thresholds = np.broadcast_to(np.asarray(self.threshold, dtype=float), (len(self.classes),))
        for text, p in zip(texts, self.predict_proba(texts), strict=True):
            if not self.cleaning(text):
                results.append({"text": text, "tags": [], "probabilities": {}, "note": EMPTY_AFTER_CLEANING})
                continue
            results.append(
                {
                    "text": text,
                    "tags": [c for c, pc, t in zip(self.classes, p, thresholds, strict=True) if pc >= t],
                    "probabilities": {c: round(float(pc), 4) for c, pc in zip(self.classes, p, strict=True)},
                }
            )
        return results
