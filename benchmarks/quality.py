"""Test macro F1 of the TF-IDF baseline, the seed-default CNN, the n-gram network and a tuned config, side by side.

The project's own split (data.seed 42) for all; the configs are fitted once per init seed (seed_everything),
the baseline is deterministic (its figure does not depend on the seed). Thresholds are tuned as each config
says (cnn.yaml: on train, the lesson's method; ngram.yaml and the baseline: on val); test is only scored. The
tuned config's header says which study chose it and how long that study took.
Last line: quality baseline=<f1> default=<f1> tuned=<f1 or n/a>

    python benchmarks/quality.py [--data-dir ../shared/data] [--seeds 1 2 3] [--tuned configs/tuned.yaml]
"""

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from tagger import baseline
from tagger.callbacks import predict_split
from tagger.cli import cli_main
from tagger.data.datamodule import TaggerDataModule
from tagger.metrics import classification_report

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def fit_and_test(config: Path, seed: int, data_dir: str, root: str) -> dict:
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    args = ["fit", "--config", str(config), "--seed_everything", str(seed), "--data.data_dir", data_dir, *quiet]
    cli = cli_main([*args, "--trainer.default_root_dir", root])
    module, dm = cli.model, cli.datamodule  # best weights and tuned threshold, restored by ThresholdTuner
    probs, targets = predict_split(module, dm.dataloader("test"))
    report = classification_report(targets, (probs >= module.threshold.cpu().numpy()).astype(np.int64), dm.classes)
    return report["overall"] | {"epochs": cli.trainer.current_epoch}


def line(name: str, runs: list[dict], seconds: float) -> str:
    f1, weighted = [r["f1"] for r in runs], [r["f1_weighted"] for r in runs]
    spread = statistics.stdev(f1) if len(f1) > 1 else 0.0
    return (
        f"{name:<9} macro F1 {statistics.mean(f1):.4f} ± {spread:.4f}  weighted F1 {statistics.mean(weighted):.4f}  "
        f"runs {' '.join(f'{x:.4f}' for x in f1)}  ({seconds:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--tuned", type=Path, default=CONFIGS / "tuned.yaml", help="a tuned config, if there is one")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    start = time.perf_counter()
    dm = TaggerDataModule(args.data_dir)
    results = {"baseline": [baseline.report(baseline.train(dm, baseline.DEFAULT_C, "val"), dm.corpus)["overall"]]}
    print(line("baseline", results["baseline"], time.perf_counter() - start), flush=True)
    if args.tuned.exists():
        print("".join(f"  {line}" for line in args.tuned.read_text().splitlines(True) if line.startswith("#")), end="")
    configs = {"default": CONFIGS / "cnn.yaml", "ngram": CONFIGS / "ngram.yaml"}
    configs |= {"tuned": args.tuned} if args.tuned.exists() else {}
    for name, config in configs.items():
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as root:
            results[name] = [fit_and_test(config, seed, args.data_dir, root) for seed in args.seeds]
        print(line(name, results[name], time.perf_counter() - start), flush=True)
    if "tuned" not in results:
        print(f"tuned     n/a: {args.tuned} does not exist (no tuned config yet)")
    means = {name: f"{statistics.mean(r['f1'] for r in runs):.4f}" for name, runs in results.items()}
    print(f"quality baseline={means['baseline']} default={means['default']} tuned={means.get('tuned', 'n/a')}")


if __name__ == "__main__":
    main()
