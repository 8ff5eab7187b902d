import numpy as np
import pytest
from sklearn.metrics import f1_score

from tagger.metrics import best_threshold, bootstrap_f1_sd, classification_report


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


def test_the_bootstrap_sd_is_scikit_learn_s_macro_f1_over_resampled_test_sets():
    rng = np.random.default_rng(1)
    y = rng.random((60, 4)) < 0.3
    pred = y ^ (rng.random((60, 4)) < 0.2)  # 20% of the decisions wrong
    y[:, 3] = pred[:, 3] = False  # a tag absent from the split: F1 0, as classification_report counts it
    counts = np.random.default_rng(0).multinomial(60, np.full(60, 1 / 60), 50)
    scores = [f1_score(y, pred, average="macro", sample_weight=w, zero_division=0) for w in counts]
    assert bootstrap_f1_sd(y, pred, resamples=50) == pytest.approx(np.std(scores, ddof=1))
    four_times = bootstrap_f1_sd(np.tile(y, (4, 1)), np.tile(pred, (4, 1)))
    assert four_times == pytest.approx(bootstrap_f1_sd(y, pred) / 2, rel=0.2)  # the noise of a split ~ 1/sqrt(size)
