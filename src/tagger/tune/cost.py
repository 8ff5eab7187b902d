"""What a model costs to serve, measured before it trains: CPU latency per text, and size.

Both depend on the architecture only, so the untrained model gives the trained one's figures and a model over
budget is rejected before it costs a fit. Latency: the first validation texts, raw text in and probabilities
out (what `tagger.predict` and the served model run), one CPU thread, batch 1 and batch 64, the median of
REPEATS runs of the process's CPU time (which other processes stretch far less than the wall clock); a slow
model (a hybrid embeds every text with its encoder) stops after MIN_REPEATS runs once they took BUDGET_S. A study
times each architecture once, so twins cost the same (docs/multi-objective.md has the measurements).
"""

import hashlib
import inspect
import io
import json
import statistics
import time
from collections.abc import Callable

import lightning
import torch

from tagger.data.datamodule import TaggerDataModule
from tagger.data.features import HybridFeatures
from tagger.fit_cli import TaggerCLI
from tagger.loading import INFERENCE_KEYS, Tagger
from tagger.module import THRESHOLD_TUNED

LATENCY_TEXTS = 64  # the batch-64 figure times them all at once; batch 1 times the first SINGLE_TEXTS one by one
SINGLE_TEXTS = 16
REPEATS = 25  # at most
MIN_REPEATS = 3
BUDGET_S = 1.0  # CPU s per figure. A hybrid: 25 runs took 33 s a trial; 3 gave 14.6-16.1 ms/text, 25 gave 16.4
THREADS = 1


def _median_seconds(run: Callable[[], object]) -> float:
    run()  # warm-up: first-call allocations and look-up tables
    times: list[float] = []
    while len(times) < REPEATS and (len(times) < MIN_REPEATS or sum(times) < BUDGET_S):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def lean_bytes(cli: TaggerCLI) -> int:
    """Bytes of the model file predict loads (weights, hyperparameters, encoder, classes), as
    tagger.loading.save_lean writes it after training."""
    buffer = io.BytesIO()
    state = {
        "state_dict": cli.model.state_dict(),
        "hyper_parameters": dict(cli.model.hparams),
        TaggerDataModule.__qualname__: cli.datamodule.state_dict(),
        THRESHOLD_TUNED: True,
        "pytorch-lightning_version": lightning.__version__,
    }
    torch.save({key: state[key] for key in INFERENCE_KEYS}, buffer)  # a key added to the file must be added here
    return buffer.tell()


def architecture(cli: TaggerCLI) -> str:
    """A short fingerprint of what the costs depend on: the network's class and every argument it was built
    with (its defaults included) but dropout, inactive at inference; and the input features' settings."""
    net, hparams, data = cli.model.net, cli.model.hparams, cli.config["data"]
    defaults = {
        name: param.default
        for name, param in inspect.signature(type(net)).parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    args = defaults | hparams["net"].get("init_args", {}) | {"vocab_size": hparams["vocab_size"]}
    features = {"features": data.features}
    if data.features in ("tfidf", "hybrid"):
        features["tfidf"] = vars(data.tfidf)
    if data.features == "hybrid":  # its alpha scales the block after embedding: it costs nothing
        features["embedding"] = {k: v for k, v in vars(data.embedding).items() if k != "alpha"}
    key = [type(net).__qualname__, {k: v for k, v in args.items() if "dropout" not in k}, features]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


@torch.no_grad()
def measure(cli: TaggerCLI) -> dict[str, float]:
    """latency_ms (batch 1) and latency_ms_b64, in ms per text; num_params; size_bytes. The texts go in raw, and a
    hybrid embeds each of them, as a loaded model does (it has no embedding cache)."""
    dm, module = cli.datamodule, cli.model
    texts = [dm.corpus.raw[i] for i in dm.corpus.splits["val"][:LATENCY_TEXTS]]
    encoder = dm.encoder.uncached() if isinstance(dm.encoder, HybridFeatures) else dm.encoder
    tagger = Tagger(module, dm.cleaning, encoder, dm.classes, dm.label_mapping)
    threads, training = torch.get_num_threads(), module.training
    torch.set_num_threads(THREADS)
    module.eval()
    try:
        single = _median_seconds(lambda: tagger.predict_proba(texts[:SINGLE_TEXTS], batch_size=1))
        batch = _median_seconds(lambda: tagger.predict_proba(texts, batch_size=LATENCY_TEXTS))
    finally:
        torch.set_num_threads(threads)
        module.train(training)
    return {
        "latency_ms": 1000 * single / min(SINGLE_TEXTS, len(texts)),
        "latency_ms_b64": 1000 * batch / len(texts),
        "num_params": sum(p.numel() for p in module.parameters()),  # counts: trials.csv writes them as integers
        "size_bytes": lean_bytes(cli),
    }
