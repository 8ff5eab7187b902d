"""Train-epoch and inference time of the reference (nn.Conv1d) and fast (look-up) char-CNN, side by side.

Seed lesson's best configuration on the real train split; float32 and bf16 autocast; warm-up, then the
median of --repeats runs. Rows:
  seed-padding : batches in arrival order, padded to the batch maximum (the seed's loader)
  bucketed     : batches of similar length (tagger's default loader)
Last line: epoch_s reference=<float32, nn.Conv1d, seed padding> fast=<float32, look-up, bucketed> speedup=<x>

    python benchmarks/bench_cnn.py [--data-dir ../shared/data] [--repeats 3] [--threads 2]
"""

import argparse
import contextlib
import os
import platform
import statistics
import time
from functools import partial

import torch

from tagger.data.datamodule import TaggerDataModule
from tagger.models.cnn import CharCNN
from tagger.module import TaggerModule

SEED_BEST = {"embedding_dim": 335, "num_filters": 477, "hidden_dim": 458, "filter_sizes": tuple(range(1, 11))}


def precision_context(precision: str):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(module: TaggerModule, loader, precision: str) -> float:
    optimizer = torch.optim.Adam(module.parameters(), lr=module.hparams.lr)
    module.train()
    start = time.perf_counter()
    for tokens, targets in loader:
        optimizer.zero_grad(set_to_none=True)
        with precision_context(precision):
            logits = module(tokens)
        module.loss(logits, targets).backward()
        optimizer.step()
    return time.perf_counter() - start


@torch.inference_mode()
def inference(module: TaggerModule, loader, precision: str) -> float:
    module.eval()
    start = time.perf_counter()
    for tokens, _ in loader:
        with precision_context(precision):
            module(tokens)
    return time.perf_counter() - start


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, thread pool, first-call paths
    return statistics.median(fn() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("TAGGER_DATA_DIR", "../shared/data"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    loaders = {}
    for name, bucketing in (("seed-padding", False), ("bucketed", True)):
        dm = TaggerDataModule(args.data_dir, batch_size=64, bucketing=bucketing)
        loaders[name] = dm.dataloader("train", shuffle=False)  # same batches in every repeat
    train_texts = len(dm.corpus.splits["train"])
    mean_chars = sum(len(dm.corpus.texts[i]) for i in dm.corpus.splits["train"]) / train_texts
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    print(f"# {machine}, "
          f"{args.threads} threads; train split {train_texts} texts, {mean_chars:.0f} chars on average; "
          f"sizes {SEED_BEST}")  # fmt: skip
    print(f"{'impl':<10} {'loader':<13} {'precision':<9} {'epoch_s':>8} {'infer_s':>8}")
    results = {}
    for impl in ("reference", "fast"):
        for loader_name, loader in loaders.items():
            for precision in ("float32", "bf16"):
                torch.manual_seed(0)
                net = partial(CharCNN, impl=impl, **SEED_BEST)
                module = TaggerModule(dm.vocab_size, dm.num_classes, net, dm.class_weights, lr=2e-4)
                epoch_s = median_time(lambda m=module, lo=loader, p=precision: train_epoch(m, lo, p), args.repeats)
                infer_s = median_time(lambda m=module, lo=loader, p=precision: inference(m, lo, p), args.repeats)
                results[impl, loader_name, precision] = epoch_s
                print(f"{impl:<10} {loader_name:<13} {precision:<9} {epoch_s:>8.2f} {infer_s:>8.2f}", flush=True)
    kernel = results["reference", "bucketed", "float32"] / results["fast", "bucketed", "float32"]
    print(f"# kernel alone (both bucketed, float32): {kernel:.1f}x")
    reference, fast = results["reference", "seed-padding", "float32"], results["fast", "bucketed", "float32"]
    print(f"epoch_s reference={reference:.2f} fast={fast:.2f} speedup={reference / fast:.1f}x")


if __name__ == "__main__":
    main()
