import numpy as np
from sklearn.metrics import f1_score

from tagger.metrics import best_threshold, classification_report


def test_best_threshold_separates_when_possible():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.3, 0.7], [0.6, 0.65], [0.1, 0.4]])
    t = best_threshold(y, p)
    assert 0.4 < t <= 0.6
    assert f1_score(y.ravel(), (p >= t).ravel()) == 1.0


def test_report_headline_is_macro():
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    pred = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1]])
    report = classification_report(y, pred, ["a", "b", "c"])
    assert report["overall"]["f1"] == f1_score(y, pred, average="macro")
    assert report["overall"]["f1_micro"] == f1_score(y, pred, average="micro")
    assert report["per_class"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert report["num_samples"] == 4
