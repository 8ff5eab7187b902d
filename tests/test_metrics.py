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


def test_class_thresholds_fall_back_to_the_global_one_for_rare_tags():
    from tagger.metrics import best_threshold, class_thresholds

    rng = np.random.default_rng(0)
    y = np.zeros((200, 3), dtype=int)
    y[:80, 0] = 1  # common: its own threshold
    y[:3, 1] = 1  # rare: 3 positives
    y[100:160, 2] = 1
    probs = np.clip(y * 0.3 + rng.random((200, 3)) * 0.6, 0, 1)
    probs[:, 2] = np.clip(y[:, 2] * 0.6 + rng.random(200) * 0.3, 0, 1)  # separable higher up
    thresholds = class_thresholds(y, probs, min_positives=10)
    overall = best_threshold(y, probs)
    assert thresholds[1] == overall  # the rare tag keeps the global threshold
    assert thresholds[0] == best_threshold(y[:, 0], probs[:, 0]) and thresholds[2] == best_threshold(
        y[:, 2], probs[:, 2]
    )
    assert thresholds[0] != thresholds[2]
