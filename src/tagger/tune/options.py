"""What a `tagger.tune` run is asked to do: TuneOptions, and its command line (jsonargparse), which keeps the
fit config's own arguments (--config, --trainer.*, --model.*, --data.*) apart for the fit parser.

Plain Python and jsonargparse only, so that --help and option errors answer before torch, Lightning, Optuna or
MLflow are imported.
"""

import os
from argparse import SUPPRESS
from dataclasses import dataclass, field, fields
from importlib.resources import files
from pathlib import Path
from typing import Literal

from jsonargparse import ArgumentParser
from jsonargparse.typing import NonNegativeInt, PositiveFloat, PositiveInt

from tagger.commandline import called_as, version_text
from tagger.tune.objectives import Budget, Pick, parse_objectives


def shipped(name: str) -> str:
    """A config shipped inside the package (the repository's configs/ links to the same files)."""
    return str(files("tagger") / "configs" / name)


def study_name(text: str) -> str:
    """One folder under studies/ and one MLflow experiment: a single path component that is a folder of its own
    (not only dots: '.', '..', or '...' that Windows and some tools read as a parent), printable, without the
    leading or trailing spaces a shell drops."""
    if not text.strip(".") or text != text.strip() or "/" in text or "\\" in text or not text.isprintable():
        raise ValueError(
            f"{text!r} is not a name; use letters, digits, '-', '_' or '.' (not only dots), without slashes or spaces "
            "around it"
        )
    return text


def _per_core(text: str, what: str) -> int:
    """A count of 1 to this machine's cores."""
    value, cores = int(text) if text.strip().isdigit() else -1, os.cpu_count() or 1
    if not 0 < value <= cores:
        raise ValueError(f"{text!r} {what} on this machine's {cores} cores; give 1 to {cores}")
    return value


def threads(text: str) -> int | None:
    """More torch threads than cores only makes them wait on each other (7 min for a 10 s trial, measured)."""
    return None if text in ("None", "null") else _per_core(text, "threads")


def workers(text: str) -> int:
    """Each worker trains on a core of its own: 64 on 2 cores started no trial in 300 s (measured). More
    machines, not more workers, scale a study past one machine's cores (docs/scale-out.md)."""
    return _per_core(text, "workers")


def _option(default, help: str, **extra):  # noqa: A002 (argparse's name)
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TuneOptions:
    n_trials: PositiveInt = _option(50, "finished (complete or pruned) trials the study ends with; rerun to resume")
    study_name: str = _option(
        "tagger", "the study's name: its storage entry, MLflow experiment, output folder", parse=study_name
    )
    storage: str = _option("optuna.journal", "a journal FILE (one machine), sqlite:///FILE or postgresql://...")
    sampler: Literal["tpe", "random"] = _option("tpe", "Optuna sampler")
    pruner: Literal["median", "hyperband", "none"] = _option("median", "Optuna pruner (single objective only)")
    timeout: PositiveFloat | None = _option(None, "stop starting trials after this many seconds")
    seed: NonNegativeInt = _option(42, "seeds each trial's sampler with its trial number")
    cv: PositiveInt = _option(5, "K: each trial fits K folds of train+val (1: the single train/val split)")
    noise_repeats: NonNegativeInt | None = _option(
        None, "with --cv: score the winner on this many other fold cuts (default: what fits in a fifth of the trials' "
        "time, at most 3; 0: skip)"
    )  # fmt: skip
    objectives: tuple[str, ...] = _option(
        ("f1",), "f1, or f1 and costs to minimise: latency (CPU ms per text), size (parameters); e.g. f1,latency",
        parse=parse_objectives,
    )  # fmt: skip
    max_latency_ms: PositiveFloat | None = _option(None, "reject a model slower than this before it trains")
    max_params: PositiveInt | None = _option(None, "reject a model with more parameters before it trains")
    pick: Pick = _option(
        Pick(), "the trial handed over: f1, trial=N, or budgets such as latency_ms<=5", parse=Pick.parse
    )
    search_space: str = _option(
        "default", "a YAML file, or a shipped space: default, networks, cost, seed (the lesson's) or finetune"
    )
    tracking_uri: str = _option(
        os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"), "MLflow tracking URI ($MLFLOW_TRACKING_URI)"
    )
    register_model: str | None = _option(None, "register the handed-over model as a new version of this name")
    output_dir: str | None = _option(None, "where the outputs go (default: studies/<study-name>)")
    workers: int = _option(1, "worker processes on this machine, on one study (at most one per core)", parse=workers)
    threads: int | None = _option(None, "torch threads per worker (default: cores / workers)", parse=threads)
    heartbeat_interval: PositiveInt = _option(10, "seconds between a worker's heartbeats (databases)")
    grace_period: PositiveInt = _option(
        30, "seconds without a heartbeat before a trial is retried (at least twice --heartbeat-interval)"
    )
    max_retries: NonNegativeInt = _option(2, "retries of a trial whose worker died")
    allow_changes: bool = _option(False, "add trials to a study whose config or search space has changed")
    role: Literal["main", "worker"] = _option("main", "", hidden=True)  # workers skip set-up and outputs
    parent_pid: int | None = _option(None, "", hidden=True)  # a worker ends when its main process is gone
    worker_number: int | None = _option(None, "", hidden=True)  # labels a worker's lines

    @property
    def budget(self) -> Budget:
        return Budget(self.max_latency_ms, self.max_params)

    @property
    def out(self) -> Path:
        return Path(self.output_dir or Path("studies") / self.study_name)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parser() -> ArgumentParser:
    """The tuning options, each from its TuneOptions field (type, default, help)."""
    parser = ArgumentParser(
        prog=called_as("tagger.tune"),
        description="An Optuna study over tagger's fit config. Every other argument is the fit config's own, as "
        "`python -m tagger.cli fit` takes it: --config FILE (default: the shipped configs/cnn.yaml), --trainer.*, "
        "--model.*, --data.* (e.g. --trainer.max_epochs 30).",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=version_text())
    for spec in fields(TuneOptions):
        if spec.type is bool:
            parser.add_argument(_flag(spec.name), action="store_true", help=spec.metadata["help"])
            continue
        kind = str if "parse" in spec.metadata else spec.type
        shown = ",".join(spec.default) if isinstance(spec.default, tuple) else spec.default
        parser.add_argument(
            _flag(spec.name), type=kind, default=str(shown) if "parse" in spec.metadata else shown,
            help=SUPPRESS if spec.metadata.get("hidden") else spec.metadata["help"],
        )  # fmt: skip
    return parser


def split(argv: list[str]) -> tuple[list[str], list[str]]:
    """The tuning options' arguments, and the rest (the fit config's) as given."""
    own = {"-h", "--help", "--version"}
    names = {_flag(spec.name) for spec in fields(TuneOptions)} | own
    flags = {_flag(spec.name) for spec in fields(TuneOptions) if spec.type is bool} | own
    tune, fit, rest = [], [], list(argv)
    while rest:
        arg = rest.pop(0)
        name = arg.split("=", 1)[0]
        if name not in names:
            fit.append(arg)
        elif "=" in arg or name in flags or not rest:
            tune.append(arg)
        else:
            tune += [arg, rest.pop(0)]
    return tune, fit


def parse(argv: list[str]) -> tuple[TuneOptions, list[str]]:
    """TuneOptions and the fit config's arguments (--config defaults to the shipped configs/cnn.yaml). A bad
    option value exits with one line (status 2), as argparse does."""
    tune, fit = split(argv)
    cli = parser()
    values = vars(cli.parse_args(tune))
    for spec in fields(TuneOptions):
        if "parse" in spec.metadata:
            try:
                values[spec.name] = spec.metadata["parse"](values[spec.name])
            except ValueError as err:
                cli.error(f"{_flag(spec.name)}: {err}")
    if values["grace_period"] < 2 * values["heartbeat_interval"]:  # Optuna's own default is twice the interval
        cli.error(
            f"--grace-period: {values['grace_period']} s is shorter than twice --heartbeat-interval "
            f"({values['heartbeat_interval']} s): other workers would fail a live worker's trial between two of its "
            f"heartbeats; give --grace-period {2 * values['heartbeat_interval']} or more"
        )
    if not any(a == "--config" or a.startswith("--config=") for a in fit):
        fit = ["--config", shipped("cnn.yaml"), *fit]
    return TuneOptions(**values), fit
