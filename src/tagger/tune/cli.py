"""`python -m tagger.tune --n-trials 50 [--config configs/cnn.yaml] [--trainer.max_epochs 20 ...]`."""

import logging
import sys
import warnings

from tagger.errors import reported
from tagger.tune.options import parse


def quiet() -> None:
    """One line per trial instead of Optuna's and Lightning's per-trial chatter."""
    import lightning.pytorch  # noqa: F401 (importing Lightning sets its loggers to INFO: set them after)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial: its reason in the progress line
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):  # "Seed set", "GPU available", tips
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
    opts, base_args = parse(argv)  # --help and option errors answer here, before the heavy imports
    quiet()
    try:
        with reported():
            from tagger.tune.runner import run_study  # torch, Lightning, Optuna, MLflow

            run_study(opts, base_args, argv=argv)
    except KeyboardInterrupt:
        sys.exit("tagger: interrupted; the outputs cover the finished trials. Rerun the same command to resume.")
