"""Seeded train/val/test split that keeps every label's share similar in each part."""

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit

from tagger.errors import TaggerError


def _stratifiable(y: np.ndarray) -> np.ndarray:
    """The stratifiers want several label columns: a single one is stratified as "has it" vs. "has it not"."""
    return y if y.shape[1] > 1 else np.hstack([y, 1 - y])


def stratified_split(
    y: np.ndarray, sizes: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, val and test by multi-label iterative stratification (Sechidis et al. 2011).

    Two stratified cuts: train vs. the rest, then the rest into val and test.
    """
    train_size, val_size, test_size = sizes
    if min(sizes) <= 0 or not np.isclose(sum(sizes), 1.0):
        raise TaggerError(f"split sizes must be three positive fractions that sum to 1, got {sizes}")
    y = _stratifiable(y)
    rows = np.arange(len(y))
    first = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=val_size + test_size, random_state=seed)
    train, rest = next(first.split(rows, y))
    second = MultilabelStratifiedShuffleSplit(
        n_splits=1, test_size=test_size / (val_size + test_size), random_state=seed
    )
    val, test = next(second.split(rest, y[rest]))
    return np.sort(train), np.sort(rest[val]), np.sort(rest[test])


def stratified_fold(rows: np.ndarray, y: np.ndarray, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) row indices: rows cut into `folds` seeded, label-stratified folds; `fold` is val.

    Every fold number of one seed comes from the same cut, so the folds are disjoint and cover rows.
    """
    if not 0 <= fold < folds:
        raise TaggerError(f"--data.cv_fold must be in 0..{folds - 1} for {folds} folds, got {fold}")
    cut = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train, val = list(cut.split(rows, _stratifiable(y[rows])))[fold]
    return np.sort(rows[train]), np.sort(rows[val])
