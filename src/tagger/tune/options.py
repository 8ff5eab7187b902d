"""What a `tagger.tune` run is asked to do: TuneOptions, filled from the command line."""

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from tagger.tune.objectives import Budget, Pick, parse_objectives


def shipped(name: str) -> str:
    """A config shipped inside the package (the repository's configs/ links to the same files)."""
    return str(files("tagger") / "configs" / name)


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser's own message in argparse's error line (argparse shows only the value for a ValueError)."""

    def typed(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return typed


@dataclass
class TuneOptions:
    n_trials: int = 50
    study_name: str = "tagger"
    storage: str = "optuna.journal"  # a journal file, which several local workers share safely
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    timeout: float | None = None
    seed: int = 42
    search_space: str = "default"  # a shipped space by name (configs/search_space_<name>.yaml) or a YAML file
    tracking_uri: str = "sqlite:///mlflow.db"
    register_model: str | None = None  # register the best model under this name in the MLflow Model Registry
    output_dir: str | None = None
    workers: int = 1
    threads: int | None = None  # torch threads per worker; default: cores / workers
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retries: int = 2
    objectives: tuple[str, ...] = ("f1",)  # F1 alone, or F1 and costs: tagger.tune.objectives.OBJECTIVES
    max_latency_ms: float | None = None  # budgets: a model over one is rejected before it trains
    max_params: int | None = None
    pick: Pick = Pick()  # which complete trial becomes best.yaml and best.ckpt
    cv: int = 5  # folds of train+val per trial; 1: the single train/val split
    noise_repeats: int = 3  # the winner's config re-scored on this many other fold cuts: the objective's noise
    allow_changes: bool = False  # add trials to a study whose definition (config, space, ...) has changed
    role: Literal["main", "worker"] = "main"  # workers started by --workers skip set-up and outputs
    parent_pid: int | None = None  # a worker's main process: the worker ends when it is gone

    @property
    def budget(self) -> Budget:
        return Budget(self.max_latency_ms, self.max_params)

    @property
    def out(self) -> Path:
        return Path(self.output_dir or Path("studies") / self.study_name)


def parse(argv: list[str] | None) -> tuple[TuneOptions, list[str]]:
    """Tuning options, and the rest (--config, --trainer.*, --model.*, --data.*) for the fit config."""
    defaults = TuneOptions()
    p = argparse.ArgumentParser(
        prog="python -m tagger.tune",
        description="Optuna study over the tagger's config; other arguments are fit config overrides.",
    )
    p.add_argument("--n-trials", type=int, default=defaults.n_trials, help="finished trials the study ends with")
    p.add_argument("--study-name", default=defaults.study_name)
    p.add_argument(
        "--storage",
        default=defaults.storage,
        help="a journal file (FILE or journal:FILE), sqlite:///FILE or postgresql://... (default: %(default)s)",
    )
    p.add_argument("--sampler", choices=["tpe", "random"], default=defaults.sampler)
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], default=defaults.pruner)
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument(
        "--seed", type=int, default=defaults.seed, help="sampler seed; give each machine of a shared study its own"
    )
    p.add_argument(
        "--cv",
        type=int,
        default=defaults.cv,
        help="K: each trial fits K models on folds of train+val and scores their mean macro F1; 1: one train/val "
        "split (default: %(default)s)",
    )
    p.add_argument(
        "--noise-repeats",
        type=int,
        default=defaults.noise_repeats,
        help="with --cv: score the winner's config on this many other cuts of train+val into folds, to measure the "
        "objective's noise (summary.md); 0: skip (default: %(default)s)",
    )
    p.add_argument(
        "--objectives",
        type=_argument(parse_objectives),
        default=defaults.objectives,
        help="f1 (validation macro F1), or f1 and costs to minimise: latency (CPU ms per text at batch 1), size "
        "(parameters); e.g. f1,latency gives a Pareto front (pareto.csv). Default: f1",
    )
    p.add_argument(
        "--max-latency-ms",
        type=float,
        help="reject a model slower than this (CPU ms per text at batch 1) before it trains",
    )
    p.add_argument("--max-params", type=int, help="reject a model with more parameters before it trains")
    p.add_argument(
        "--pick",
        type=_argument(Pick.parse),
        default=defaults.pick,
        help="the trial handed over as best.yaml/best.ckpt: f1 (highest validation F1, the default), budgets such as "
        "latency_ms<=5 or num_params<=200000 (highest F1 within them), or trial=N (export trial N)",
    )
    p.add_argument(
        "--search-space",
        default=defaults.search_space,
        help="a YAML file, or a shipped space: default (CNN and n-gram families), cost (their sizes searched wide, "
        "for --objectives f1,latency) or seed (the lesson's)",
    )
    p.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI", defaults.tracking_uri),
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or %(default)s)",
    )
    p.add_argument(
        "--register-model",
        metavar="NAME",
        help="register the best model as a new version of NAME in the tracking store's MLflow Model Registry",
    )
    p.add_argument("--output-dir", help="default: studies/<study-name>")
    p.add_argument("--workers", type=int, default=defaults.workers, help="worker processes on this machine")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: cores / workers)")
    p.add_argument("--heartbeat-interval", type=int, default=defaults.heartbeat_interval, help="seconds (databases)")
    p.add_argument(
        "--grace-period", type=int, default=defaults.grace_period, help="seconds without heartbeat before a retry"
    )
    p.add_argument("--max-retries", type=int, default=defaults.max_retries, help="retries of a dead worker's trial")
    p.add_argument(
        "--allow-changes",
        action="store_true",
        help="add trials to an existing study although its base config, search space or objective changed",
    )
    p.add_argument("--role", choices=["main", "worker"], default="main", help=argparse.SUPPRESS)
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args, rest = p.parse_known_args(argv)
    for name in ("n_trials", "workers", "threads", "heartbeat_interval", "grace_period", "cv"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    for name in ("max_retries", "noise_repeats"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(args, name)}")
    for name in ("max_latency_ms", "max_params"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {value:g}")
    if args.timeout is not None and args.timeout <= 0:
        p.error(f"--timeout must be a positive number of seconds (leave it out for no limit), got {args.timeout:g}")
    if not any(a == "--config" or a.startswith("--config=") for a in rest):
        rest = ["--config", shipped("cnn.yaml"), *rest]
    return TuneOptions(**vars(args)), rest
