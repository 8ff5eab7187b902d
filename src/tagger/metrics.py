"""Decision threshold and the classification report, computed with scikit-learn."""

import numpy as np
from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support


def best_threshold(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """The one threshold that maximises F1 over all (sample, class) pairs (the seed lesson's method)."""
    precision, recall, thresholds = precision_recall_curve(y_true.ravel(), y_prob.ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return float(thresholds[np.nanargmax(f1[:-1])])  # the last (p=1, r=0) point has no threshold


def class_thresholds(y_true: np.ndarray, y_prob: np.ndarray, min_positives: int) -> list[float]:
    """One F1-maximising threshold per tag; a tag with fewer than min_positives positives in y_true keeps
    the global threshold, since a handful of positives gives a threshold fitted to noise."""
    overall = best_threshold(y_true, y_prob)
    return [
        best_threshold(y_true[:, c], y_prob[:, c]) if y_true[:, c].sum() >= min_positives else overall
        for c in range(y_true.shape[1])
    ]


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], macro_over_present: bool = False
) -> dict:
    """Macro precision/recall/F1 as the headline ("f1"), weighted and micro F1, and per-class figures.

    macro_over_present: average only over the classes that occur in y_true (a file that lacks a class
    cannot score it; counting it as F1 = 0 would lower the macro figure for nothing the model did). Its
    false positives still count in micro F1 and in its per-class precision.
    """

    def summary(average: str | None, labels=None):
        return precision_recall_fscore_support(y_true, y_pred, average=average, labels=labels, zero_division=0)

    present = np.flatnonzero(y_true.sum(0) > 0) if macro_over_present else None
    p, r, f1, _ = summary("macro", present)
    per_class = zip(*summary(None), strict=True)
    return {
        "overall": {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f1),
            "f1_weighted": float(summary("weighted")[2]),
            "f1_micro": float(summary("micro")[2]),
        },
        "per_class": {
            c: {"precision": float(cp), "recall": float(cr), "f1": float(cf), "support": int(cs)}
            for c, (cp, cr, cf, cs) in zip(classes, per_class, strict=True)
        },
        "num_samples": int(len(y_true)),
    }


def bootstrap_f1_sd(y_true: np.ndarray, y_pred: np.ndarray, resamples: int = 1000, seed: int = 0) -> float:
    """The standard deviation of macro F1 (every class, an absent one at 0, as classification_report's "f1")
    over ``resamples`` test sets drawn with replacement from the rows given: how far the figure moves with
    which texts a test split of this size happens to hold."""
    counts = np.random.default_rng(seed).multinomial(len(y_true), np.full(len(y_true), 1 / len(y_true)), resamples)
    truth, guess = y_true.astype(bool), y_pred.astype(bool)
    tp, fp, fn = (counts @ (a & b) for a, b in ((truth, guess), (~truth, guess), (truth, ~guess)))  # (B, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
    return float(f1.mean(axis=1).std(ddof=1))


def score(
    y_true: np.ndarray,
    probs: np.ndarray,
    threshold: float | list[float] | np.ndarray,
    classes: list[str],
    macro_over_present: bool = False,
) -> dict:
    """classification_report of the probabilities at the decision threshold (one, or one per tag)."""
    predicted = (probs >= np.asarray(threshold)).astype(np.int64)
    return classification_report(y_true, predicted, classes, macro_over_present)
