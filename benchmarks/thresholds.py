"""Decision thresholds compared on the same fitted models: one global threshold or one per tag (rare tags
falling back to the global one), tuned on the train split, the validation split, or out-of-fold predictions;
scored on test only.

Each config (default configs/cnn.yaml) is fitted once per init seed (1, 2, 3) on the project's split, and with
--cv K also on the K folds of train+val that a cross-validated study uses: the folds' validation predictions
are then out-of-fold predictions of every train+val project (K times the positives of the validation split),
and the K fold models' mean probabilities are scored on test. Every strategy reuses the same probabilities.
Last line: thresholds <strategy>=<mean test macro F1> ...

    python benchmarks/thresholds.py [--config configs/cnn.yaml] [--seeds 1 2 3] [--min-positives 10] [--cv 3]
"""

import argparse
import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from tagger.callbacks import predict_split
from tagger.fit_cli import cli_main
from tagger.metrics import best_threshold, class_thresholds, classification_report

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cnn.yaml"
Predictions = tuple[np.ndarray, np.ndarray]  # probabilities, targets


def fit(config: Path, seed: int, data_dir: str, *extra: str):
    with tempfile.TemporaryDirectory() as root:
        quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
        return cli_main(["fit", "--config", str(config), "--seed_everything", str(seed), "--data.data_dir", data_dir,
                         "--trainer.default_root_dir", root, *quiet, *extra])  # fmt: skip


def strategies(tuned_on: str, probs: np.ndarray, y: np.ndarray, min_positives: list[int]) -> dict:
    found = {f"global@{tuned_on}": best_threshold(y, probs)}
    for n in min_positives:
        found[f"per_tag(min {n})@{tuned_on}"] = np.array(class_thresholds(y, probs, n))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--min-positives", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--cv", type=int, default=0, help="also K fold models per seed, thresholds out-of-fold")
    args = parser.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    scores: dict[str, list[float]] = {}
    for seed in args.seeds:
        cli = fit(args.config, seed, args.data_dir)
        dm = cli.datamodule
        split = {name: predict_split(cli.model, dm.dataloader(name)) for name in ("train", "val", "test")}
        scored: list[tuple[dict, Predictions]] = [
            (strategies(name, *split[name], args.min_positives), split["test"]) for name in ("train", "val")
        ]
        if args.cv > 1:
            folds = [fit(args.config, seed, args.data_dir, f"--data.cv_folds={args.cv}", f"--data.cv_fold={k}")
                     for k in range(args.cv)]  # fmt: skip
            out_of_fold = [predict_split(f.model, f.datamodule.dataloader("val")) for f in folds]
            tests = [predict_split(f.model, f.datamodule.dataloader("test")) for f in folds]
            ensemble = (np.mean([p for p, _ in tests], axis=0), tests[0][1])
            oof_p, oof_y = (np.concatenate(parts) for parts in zip(*out_of_fold, strict=True))
            scored.append((strategies(f"oof{args.cv}", oof_p, oof_y, args.min_positives), ensemble))
        for found, (test_p, test_y) in scored:
            for name, threshold in found.items():
                f1 = classification_report(test_y, (test_p >= threshold).astype(np.int64), dm.classes)["overall"]["f1"]
                scores.setdefault(name, []).append(f1)
        print(f"seed {seed}: " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in scores.items()), flush=True)
    for name, values in scores.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name:<24} test macro F1 {statistics.mean(values):.4f} ± {spread:.4f}")
    print("thresholds " + " ".join(f"{k}={statistics.mean(v):.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
