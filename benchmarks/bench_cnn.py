"""Train and inference time of the reference (nn.Conv1d) and fast (look-up) char-CNN, side by side.

Seed lesson's best sizes on the real train split; float32, and bf16 autocast only where the hardware computes in
bf16 (a CPU with avx512_bf16 or AMX, or a GPU that supports it: elsewhere torch emulates it, minutes per row, and
the output says it was skipped; --bf16 always times it anyway). A warm-up on a few texts, then the median of
--repeats runs over --batches batches spread evenly over the epoch; epoch_s and infer_s are those seconds scaled to
the whole epoch. At the seed's sizes one reference batch padded to its longest text takes about a minute of
training on 2 cores, so the default (2 batches, 1 run) is an estimate that answers in minutes; raise both for a
firmer figure.
Rows:
  seed-padding : batches in arrival order, padded to the batch maximum (the seed's loader)
  bucketed     : batches of similar length (tagger's default loader)
Last line: epoch_s reference=<float32, nn.Conv1d, seed padding> fast=<float32, look-up, bucketed> speedup=<x>

    python benchmarks/bench_cnn.py [--data-dir ../shared/data] [--batches 2] [--repeats 1] [--threads 2]
    python benchmarks/bench_cnn.py --batches 0 --repeats 3    # whole epochs (over half an hour on 2 cores)
    python benchmarks/bench_cnn.py --device cuda              # on a GPU (bf16 where it supports it)
"""

import argparse
import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from tagger.data.datamodule import TaggerDataModule
from tagger.models.cnn import CharCNN
from tagger.module import TaggerModule

SEED_BEST = {"embedding_dim": 335, "num_filters": 477, "hidden_dim": 458, "filter_sizes": tuple(range(1, 11))}
TINY = {"embedding_dim": 8, "num_filters": 4, "hidden_dim": 8, "filter_sizes": (1, 2, 3)}  # smoke tests
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo: the CPU computes bf16 itself

Batch = tuple[torch.Tensor, torch.Tensor]


def bf16_support(device: str) -> str | None:
    """Why bf16 runs natively on the device (to print), or None where torch would emulate it."""
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} supports bf16" if torch.cuda.is_bf16_supported() else None
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    found = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    return f"CPU flags {', '.join(found)}" if found else None


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_pass(module: TaggerModule, batches: list[Batch], precision: str, device: str) -> float:
    optimizer = torch.optim.Adam(module.parameters(), lr=module.hparams.lr)
    module.train()
    synchronize(device)
    start = time.perf_counter()
    for tokens, targets in batches:
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision, device):
            logits = module(tokens)
        module.loss(logits, targets).backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


@torch.inference_mode()
def inference_pass(module: TaggerModule, batches: list[Batch], precision: str, device: str) -> float:
    module.eval()
    synchronize(device)
    start = time.perf_counter()
    for tokens, _ in batches:
        with autocast(precision, device):
            module(tokens)
    synchronize(device)
    return time.perf_counter() - start


def autocast(precision: str, device: str):
    if precision == "bf16":
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def median_time(timed: Callable[[list[Batch]], float], batches: list[Batch], repeats: int) -> float:
    timed([(tokens[:8], targets[:8]) for tokens, targets in batches[:1]])  # warm-up: thread pool, first calls
    return statistics.median(timed(batches) for _ in range(repeats))


def spread(batches: list[Batch], count: int) -> list[Batch]:
    """``count`` batches evenly spaced over the epoch (all with 0): short and long texts alike, as an epoch has."""
    if count <= 0 or count >= len(batches):
        return batches
    step = len(batches) / count
    return [batches[int(i * step)] for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("TAGGER_DATA_DIR", "../shared/data"))
    parser.add_argument("--batches", type=int, default=2, help="batches timed per row, spread over the epoch (0: all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda")
    parser.add_argument("--bf16", choices=["auto", "always", "never"], default="auto", help="auto: where native")
    parser.add_argument("--sizes", choices=["seed", "tiny"], default="seed", help="tiny: a smoke test's network")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = SEED_BEST if args.sizes == "seed" else TINY
    native = bf16_support(args.device)
    precisions = ["float32"]
    if args.bf16 == "always" or (args.bf16 == "auto" and native):
        precisions.append("bf16")

    loaders, epochs = {}, {}
    for name, bucketing in (("seed-padding", False), ("bucketed", True)):
        dm = TaggerDataModule(args.data_dir, batch_size=64, bucketing=bucketing)
        batches = [(t.to(args.device), y.to(args.device)) for t, y in dm.dataloader("train", shuffle=False)]
        loaders[name], epochs[name] = spread(batches, args.batches), len(batches)
    train_texts = len(dm.corpus.splits["train"])
    mean_chars = sum(len(dm.corpus.texts[i]) for i in dm.corpus.splits["train"]) / train_texts
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.device}"
    print(f"# {machine}, {args.threads} threads; train split {train_texts} texts, {mean_chars:.0f} chars on average; "
          f"sizes {sizes}")  # fmt: skip
    timed = {name: len(batches) for name, batches in loaders.items()}
    print(f"# timed {timed} of {epochs} batches per epoch, median of {args.repeats}; seconds scaled to one epoch")
    if "bf16" in precisions:
        print(f"# bf16: {native or 'emulated by torch on this hardware (--bf16 always)'}")
    else:
        print(f"# bf16: skipped, {args.device} has no native bf16 (no {' or '.join(BF16_CPU_FLAGS)}); --bf16 always")
    print(f"{'impl':<10} {'loader':<13} {'precision':<9} {'epoch_s':>8} {'infer_s':>8}")
    results = {}
    for impl in ("reference", "fast"):
        for loader_name, batches in loaders.items():
            scale = epochs[loader_name] / len(batches)
            for precision in precisions:
                torch.manual_seed(0)
                net = partial(CharCNN, impl=impl, **sizes)
                module = TaggerModule(dm.vocab_size, dm.num_classes, net, dm.class_weights, lr=2e-4).to(args.device)
                run = partial(train_pass, module, precision=precision, device=args.device)
                epoch_s = median_time(run, batches, args.repeats) * scale
                infer = partial(inference_pass, module, precision=precision, device=args.device)
                infer_s = median_time(infer, batches, args.repeats) * scale
                results[impl, loader_name, precision] = epoch_s
                print(f"{impl:<10} {loader_name:<13} {precision:<9} {epoch_s:>8.2f} {infer_s:>8.2f}", flush=True)
    kernel = results["reference", "bucketed", "float32"] / results["fast", "bucketed", "float32"]
    print(f"# kernel alone (both bucketed, float32): {kernel:.1f}x")
    reference, fast = results["reference", "seed-padding", "float32"], results["fast", "bucketed", "float32"]
    print(f"epoch_s reference={reference:.2f} fast={fast:.2f} speedup={reference / fast:.1f}x")


if __name__ == "__main__":
    main()
