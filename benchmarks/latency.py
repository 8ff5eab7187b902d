"""Predict latency per text of each model family on the CPU, as `tagger.predict` and `load_model` run it: one text
at a time (batch 1) and 256 texts at once (batch 256), texts drawn from the test split.

Latency depends on the architecture, not on how well it was trained: each config is fitted briefly (one epoch of
two batches; the linear families solve once), saved, and loaded back through `load_model`, which for the hybrid
includes embedding each text with its frozen encoder (a loaded model uses no embedding cache). The baseline's
.npz is timed as `tagger.baseline` writes it. Last line:
    latency <row>=<ms per text at batch 1>/<ms per text at batch 256> ...

    python benchmarks/latency.py [--rows baseline linear hybrid cnn finetune] [--texts 256] [--threads 2]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tagger.baseline_model import DEFAULT_C, train
from tagger.data.datamodule import TaggerDataModule
from tagger.data.download import resolve_data_dir
from tagger.errors import reported
from tagger.fit_cli import cli_main
from tagger.loading import load_model
from tagger.tagging import TaggingModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ROWS = ("baseline", "linear", "hybrid", "cnn", "finetune")
BRIEF = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2"]
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def fitted(row: str, data_dir: str, root: Path) -> TaggingModel:
    """A briefly trained model of the row's family, loaded from its file as predict loads it."""
    if row == "baseline":
        trained = train(TaggerDataModule(data_dir), DEFAULT_C, "val")
        trained.model.save(root / "baseline.npz")
        return load_model(root / "baseline.npz")
    args = ["fit", "--config", str(CONFIGS / f"{row}.yaml"), "--data.data_dir", data_dir, *QUIET]
    cli = cli_main([*args, *BRIEF, "--trainer.default_root_dir", str(root / row)])
    return load_model(cli.trainer.checkpoint_callback.best_model_path)


def per_text_ms(model: TaggingModel, texts: list[str], batch: int, repeats: int) -> float:
    """Median over repeats of the milliseconds per text of predict_proba on batches of ``batch`` texts."""
    model.predict_proba(texts[:batch])  # warm-up: first calls allocate
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for first in range(0, len(texts), batch):
            model.predict_proba(texts[first : first + batch])
        runs.append((time.perf_counter() - start) * 1000 / len(texts))
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default=str(resolve_data_dir(None)), help="default: $TAGGER_DATA_DIR, else ./data"
    )
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS[:-1]), help="all but finetune")
    parser.add_argument("--texts", type=int, default=256, help="texts timed at batch 1; batch 256 times as many")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dm = TaggerDataModule(args.data_dir)
    test = dm.corpus.splits["test"]
    raw = [dm.corpus.raw[i] for i in np.resize(test, max(args.texts, 256))]  # the texts as a user sends them
    print(f"# CPU, {args.threads} threads, torch {torch.__version__}; ms per text, median of {args.repeats}")
    print(f"{'row':<10} {'batch 1':>9} {'batch 256':>10}")
    figures = {}
    with tempfile.TemporaryDirectory() as root:
        for row in args.rows:
            model = fitted(row, args.data_dir, Path(root))
            one = per_text_ms(model, raw[: args.texts], 1, args.repeats)
            many = per_text_ms(model, raw, 256, args.repeats)
            figures[row] = f"{one:.2f}/{many:.3f}"
            print(f"{row:<10} {one:>9.2f} {many:>10.3f}", flush=True)
    print("latency " + " ".join(f"{row}={value}" for row, value in figures.items()))


if __name__ == "__main__":
    with reported():
        main()
