"""What the hybrid family's frozen embeddings cost: loading the encoder, embedding every development text once
into an empty cache (cold), and reading them all back from that cache in a fresh embedder (cached, as a study's
next trial or a rerun does). The raw title + description of each project, as the hybrid reads them.

The cache is a new temporary folder, so the cold figure is a first run's whatever $TAGGER_CACHE_DIR holds.
Last line:
    embedding texts=<n> load=<s> cold=<s> cached=<s>

    python benchmarks/embedding.py [--encoder sentence-transformers/all-MiniLM-L6-v2] [--threads 2]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tagger.data.datamodule import TaggerDataModule
from tagger.data.download import resolve_data_dir
from tagger.data.embeddings import EmbeddingCache, EmbeddingSettings, FrozenEmbedder
from tagger.errors import reported


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default=str(resolve_data_dir(None)), help="default: $TAGGER_DATA_DIR, else ./data"
    )
    parser.add_argument("--encoder", default=EmbeddingSettings.encoder, help="a hub id or a model folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    texts = TaggerDataModule(args.data_dir).corpus.raw
    settings = EmbeddingSettings(encoder=args.encoder)
    print(f"# CPU, {args.threads} threads, torch {torch.__version__}; {len(texts)} texts, {args.encoder}")
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(Path(folder))
        start = time.perf_counter()
        cold = FrozenEmbedder.load(settings, cache)
        load = time.perf_counter() - start
        start = time.perf_counter()
        vectors = cold.embed(texts)
        computed = time.perf_counter() - start
        start = time.perf_counter()
        again = FrozenEmbedder(cold.encoder, cold.state, settings, EmbeddingCache(Path(folder))).embed(texts)
        cached = time.perf_counter() - start
    if not np.array_equal(vectors, again):
        raise SystemExit("tagger: error: the cached embeddings differ from the computed ones")
    print(f"{'step':<8} {'seconds':>8}")
    for step, seconds in (("load", load), ("cold", computed), ("cached", cached)):
        print(f"{step:<8} {seconds:>8.2f}", flush=True)
    print(f"embedding texts={len(texts)} load={load:.2f} cold={computed:.2f} cached={cached:.2f}")


if __name__ == "__main__":
    with reported():
        main()
