"""`python -m tagger.tune --n-trials 50 [--config configs/cnn.yaml] [--trainer.max_epochs 20 ...]`."""

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

import optuna

from tagger.errors import TaggerError
from tagger.tune.study import TuneOptions, run_study

DEFAULT_CONFIG = Path("configs/cnn.yaml")


def parse(argv: list[str] | None) -> tuple[TuneOptions, list[str]]:
    """Tuning options, and the rest (--config, --trainer.*, --model.*, --data.*) for the fit config."""
    defaults = TuneOptions()
    p = argparse.ArgumentParser(
        prog="python -m tagger.tune",
        description="Optuna study over the tagger's config; other arguments are fit config overrides.",
    )
    p.add_argument("--n-trials", type=int, default=defaults.n_trials, help="finished trials the study ends with")
    p.add_argument("--study-name", default=defaults.study_name)
    p.add_argument("--storage", default=defaults.storage, help="Optuna storage URL (default: %(default)s)")
    p.add_argument("--sampler", choices=["tpe", "random"], default=defaults.sampler)
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], default=defaults.pruner)
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument(
        "--seed", type=int, default=defaults.seed, help="sampler seed; give each machine of a shared study its own"
    )
    p.add_argument("--search-space", default=defaults.search_space)
    p.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI", defaults.tracking_uri),
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or %(default)s)",
    )
    p.add_argument("--output-dir", help="default: studies/<study-name>")
    p.add_argument("--workers", type=int, default=defaults.workers, help="worker processes on this machine")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: cores / workers)")
    p.add_argument("--heartbeat-interval", type=int, default=defaults.heartbeat_interval, help="seconds (databases)")
    p.add_argument(
        "--grace-period", type=int, default=defaults.grace_period, help="seconds without heartbeat before a retry"
    )
    p.add_argument("--max-retries", type=int, default=defaults.max_retries, help="retries of a dead worker's trial")
    p.add_argument("--role", choices=["main", "worker"], default="main", help=argparse.SUPPRESS)
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    args, rest = p.parse_known_args(argv)
    if args.workers < 1 or args.n_trials < 1:
        p.error("--workers and --n-trials must be at least 1")
    if not any(a == "--config" or a.startswith("--config=") for a in rest) and DEFAULT_CONFIG.exists():
        rest = ["--config", str(DEFAULT_CONFIG), *rest]
    return TuneOptions(**{k: v for k, v in vars(args).items()}), rest


def quiet() -> None:
    """One line per trial instead of Optuna's and Lightning's per-trial chatter."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        "LightningCLI's args parameter",  # trials are built in-process from the tune command line
        "Starting from v1.9.0",  # the default logger's notice; trials log to MLflow
        r"The number of training batches",
        r".*LeafSpec",
        "No positive samples",  # a class absent from the two sanity-check batches
    ):
        warnings.filterwarnings("ignore", message=message)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    opts, base_args = parse(argv)
    quiet()
    try:
        run_study(opts, base_args, argv=argv)
    except TaggerError as err:
        sys.exit(f"tagger: error: {err}")
    except KeyboardInterrupt:
        sys.exit("tagger: interrupted; the outputs cover the finished trials. Rerun the same command to resume.")
