"""What the final model of the converged linear family should be trained on, measured on held-out test splits.

(a) train only, threshold tuned on val (what `fit` does); (b) train+val, threshold tuned on out-of-fold
predictions over K folds of train+val (what a cross-validated study has already computed). Same model and
settings (the baseline's: TF-IDF, C=3, balanced; scikit-learn's solver, whose optimum tests/test_linear.py
pins to the module's), scored on the test split of each of several split seeds; the paired difference per
seed is the figure. Last line: final_fit trainval_minus_train=<mean> sd=<sd> wins=<k>/<n>

    python benchmarks/final_fit.py [--data-dir DIR] [--seeds 42 1 2 ...] [--folds 5]
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np

from tagger.baseline_model import DEFAULT_C, fit_pipeline
from tagger.data.datamodule import TaggerDataModule
from tagger.data.split import stratified_fold
from tagger.metrics import best_threshold, classification_report


def macro_f1(y: np.ndarray, probs: np.ndarray, threshold: float, classes: list[str]) -> float:
    return classification_report(y, (probs >= threshold).astype(np.int64), classes)["overall"]["f1"]


def compare(dm: TaggerDataModule, folds: int) -> tuple[float, float]:
    corpus, tfidf = dm.corpus, dm.tfidf
    texts = np.array(corpus.texts, dtype=object)
    train, val, test = (corpus.splits[name] for name in ("train", "val", "test"))

    def fit(rows: np.ndarray):
        return fit_pipeline(list(texts[rows]), corpus.y[rows], tfidf, DEFAULT_C)

    def probs(model, rows: np.ndarray) -> np.ndarray:
        return model.predict_proba(list(texts[rows]))

    on_train = fit(train)
    train_only = macro_f1(
        corpus.y[test], probs(on_train, test), best_threshold(corpus.y[val], probs(on_train, val)), corpus.classes
    )
    both = np.concatenate([train, val])
    oof_y, oof_p = [], []
    for fold in range(folds):
        fit_rows, held = stratified_fold(both, corpus.y, folds, fold, dm.seed)
        oof_y.append(corpus.y[held])
        oof_p.append(probs(fit(fit_rows), held))
    threshold = best_threshold(np.concatenate(oof_y), np.concatenate(oof_p))
    train_val = macro_f1(corpus.y[test], probs(fit(both), test), threshold, corpus.classes)
    return train_only, train_val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("TAGGER_DATA_DIR"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, *range(1, 16)])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    start, diffs = time.perf_counter(), []
    print(f"{'split seed':>10} {'train':>7} {'train+val':>9} {'diff':>7}")
    for seed in args.seeds:
        train_only, train_val = compare(TaggerDataModule(args.data_dir, features="tfidf", seed=seed), args.folds)
        diffs.append(train_val - train_only)
        print(f"{seed:>10} {train_only:>7.4f} {train_val:>9.4f} {diffs[-1]:>+7.4f}", flush=True)
    wins = sum(d > 0 for d in diffs)
    print(f"{len(diffs)} split seeds, {args.folds} folds, {time.perf_counter() - start:.0f} s")
    mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
    print(f"final_fit trainval_minus_train={mean:+.4f} sd={sd:.4f} wins={wins}/{len(diffs)}")


if __name__ == "__main__":
    main()
