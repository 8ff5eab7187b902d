"""Decision thresholds compared on the same fitted models: one global threshold or one per tag (rare tags
falling back to the global one), tuned on the train or the validation split; scored on test only.

Each seed-default CNN (configs/cnn.yaml, init seeds 1, 2, 3) is fitted once; every strategy reuses its
probabilities. Last line: thresholds <strategy>=<mean test macro F1> ...

    python benchmarks/thresholds.py [--data-dir ../shared/data] [--seeds 1 2 3] [--min-positives 10]
"""

import argparse
import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from tagger.callbacks import predict_split
from tagger.cli import cli_main
from tagger.metrics import best_threshold, class_thresholds, classification_report

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cnn.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--min-positives", type=int, nargs="+", default=[5, 10, 20])
    args = parser.parse_args()
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    scores: dict[str, list[float]] = {}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as root:
            quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
            cli = cli_main(["fit", "--config", str(CONFIG), "--seed_everything", str(seed),
                            "--data.data_dir", args.data_dir, "--trainer.default_root_dir", root, *quiet])  # fmt: skip
        dm = cli.datamodule
        split = {name: predict_split(cli.model, dm.dataloader(name)) for name in ("train", "val", "test")}
        test_p, test_y = split["test"]
        for tuned_on in ("train", "val"):
            probs, y = split[tuned_on]
            strategies = {f"global@{tuned_on}": best_threshold(y, probs)}
            for n in args.min_positives:
                strategies[f"per_tag(min {n})@{tuned_on}"] = np.array(class_thresholds(y, probs, n))
            for name, threshold in strategies.items():
                f1 = classification_report(test_y, (test_p >= threshold).astype(np.int64), dm.classes)["overall"]["f1"]
                scores.setdefault(name, []).append(f1)
        print(f"seed {seed}: " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in scores.items()), flush=True)
    for name, values in scores.items():
        print(f"{name:<24} test macro F1 {statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}")
    print("thresholds " + " ".join(f"{k}={statistics.mean(v):.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
