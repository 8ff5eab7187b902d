"""Every path of benchmarks/bench_cnn.py, startup.py, latency.py and embedding.py, on tiny sizes: they still run
and answer."""

import re
import runpy
import sys

import pytest
import torch
from conftest import REPO

BENCH = REPO / "benchmarks"


def bench_cnn(data_dir, capsys, *args: str) -> list[str]:
    main = runpy.run_path(str(BENCH / "bench_cnn.py"))["main"]
    main(["--data-dir", str(data_dir), "--sizes", "tiny", "--batches", "2", "--repeats", "1", "--threads", "1", *args])
    return capsys.readouterr().out.splitlines()


def rows(lines: list[str]) -> list[tuple[str, str, str]]:
    return [tuple(line.split()[:3]) for line in lines if line.startswith(("reference ", "fast "))]


def test_bench_cnn_times_float32_and_says_why_bf16_is_skipped(data_dir, capsys, monkeypatch):
    main = runpy.run_path(str(BENCH / "bench_cnn.py"))
    if main["bf16_support"]("cpu"):
        pytest.skip("this CPU computes bf16 itself")
    lines = bench_cnn(data_dir, capsys)
    assert any(line.startswith("# bf16: skipped, cpu has no native bf16") for line in lines)
    assert {precision for _, _, precision in rows(lines)} == {"float32"} and len(rows(lines)) == 4
    assert re.fullmatch(r"epoch_s reference=\d+\.\d\d fast=\d+\.\d\d speedup=\d+\.\dx", lines[-1])


def test_bench_cnn_times_bf16_when_asked(data_dir, capsys):
    lines = bench_cnn(data_dir, capsys, "--bf16", "always", "--batches", "0")
    assert len(rows(lines)) == 8 and ("fast", "bucketed", "bf16") in rows(lines)
    assert any(line.startswith("# bf16: ") for line in lines)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_bench_cnn_on_a_gpu(data_dir, capsys):
    lines = bench_cnn(data_dir, capsys, "--device", "cuda")
    assert lines[-1].startswith("epoch_s reference=")


def test_startup_times_every_console_command(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["startup.py", "--runs", "1"])
    runpy.run_path(str(BENCH / "startup.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    names = ["tagger", "tagger-fit", "tagger-fit-error", "tagger-baseline", "tagger-baseline-error", "tagger-tune"]
    names += ["tagger-predict", "tagger-evaluate"]
    assert re.fullmatch("startup " + " ".join(rf"{name}=\d+\.\d\d" for name in names), lines[-1])


def test_latency_times_every_family_at_batch_1_and_256(data_dir, capsys, tiny_minilm):
    """The shipped configs' encoder is the tiny BERT here (tiny_minilm), so the pretrained families run in seconds."""
    main = runpy.run_path(str(BENCH / "latency.py"))["main"]
    rows = ["baseline", "linear", "hybrid", "cnn", "finetune"]
    main(["--data-dir", str(data_dir), "--rows", *rows, "--texts", "4", "--repeats", "1", "--threads", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch("latency " + " ".join(rf"{row}=\d+\.\d\d/\d+\.\d\d\d" for row in rows), lines[-1])


def test_embedding_times_loading_a_cold_run_and_a_cached_one(data_dir, capsys, tiny_minilm):
    main = runpy.run_path(str(BENCH / "embedding.py"))["main"]
    main(["--data-dir", str(data_dir), "--threads", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"embedding texts=[1-9]\d* load=\d+\.\d\d cold=\d+\.\d\d cached=\d+\.\d\d", lines[-1])
