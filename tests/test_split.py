import numpy as np
import pytest

from tagger.data.split import stratified_split
from tagger.errors import TaggerError


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 8)) < np.linspace(0.05, 0.5, 8)).astype(int)
    y[y.sum(1) == 0, 0] = 1
    return y


def test_split_is_a_seeded_partition(labels):
    train, val, test = stratified_split(labels, (0.7, 0.15, 0.15), seed=1)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(labels)))
    assert abs(len(train) - 210) <= 3 and abs(len(val) - 45) <= 3
    again = stratified_split(labels, (0.7, 0.15, 0.15), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))


def test_every_label_appears_in_every_split(labels):
    for part in stratified_split(labels, (0.7, 0.15, 0.15), seed=3):
        assert (labels[part].sum(0) > 0).all()


def test_bad_sizes_are_rejected(labels):
    with pytest.raises(TaggerError, match="sum to 1"):
        stratified_split(labels, (0.7, 0.2, 0.2), seed=0)


def test_a_single_label_can_be_split():
    y = np.ones((20, 1), dtype=int)
    train, val, test = stratified_split(y, (0.6, 0.2, 0.2), seed=0)
    assert (len(train), len(val), len(test)) == (12, 4, 4)


def test_folds_are_disjoint_stratified_and_cover_their_rows(labels):
    from tagger.data.split import stratified_fold

    rows = np.arange(255)  # e.g. train + val; the rest stands for test
    vals = [stratified_fold(rows, labels, 5, k, seed=3) for k in range(5)]
    for train, val in vals:
        assert not set(train) & set(val) and sorted([*train, *val]) == rows.tolist()
        share = labels[val].mean(0) / labels[rows].mean(0)
        assert np.all(np.abs(share - 1) < 0.35)  # every label about as frequent in each fold
    assert sorted(np.concatenate([val for _, val in vals]).tolist()) == rows.tolist()  # each row validates once
    assert np.array_equal(stratified_fold(rows, labels, 5, 2, seed=3)[1], vals[2][1])  # seeded
    with pytest.raises(TaggerError, match="cv_fold must be in 0..4"):
        stratified_fold(rows, labels, 5, 5, seed=3)
