"""`python -m tagger.cli fit|validate|test --config configs/cnn.yaml`: LightningCLI wiring (tagger.cli is the
entry point)."""

import errno
import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger

from tagger.callbacks import ThresholdTuner, predict_split
from tagger.commandline import version_text
from tagger.data.datamodule import TaggerDataModule, encoder_from_state
from tagger.errors import TaggerError
from tagger.files import unwritable
from tagger.help_formatter import HelpFormatter
from tagger.lineage import lineage
from tagger.loading import check_tuned, read_checkpoint
from tagger.metrics import score
from tagger.models import features_of
from tagger.module import TaggerModule
from tagger.redact import redact
from tagger.registry import FitTracking, LogBestModel, check_model_name

# What every fit would print that says nothing to its user, as tagger.tune quiets its trials; Lightning's other
# warnings (and all of ours) stay.
QUIET = (
    "LightningCLI's args parameter",  # tagger.cli passes the command line (or a test's) explicitly
    "Starting from v1.9.0",  # the default logger's notice: fit logs to CSV (and MLflow), as it says
    r".*LeafSpec",  # a deprecation inside Lightning's own code
    "No positive samples",  # a tag absent from a validation batch: average precision skips it
    # the module logs per epoch only (on_step=False), so a shorter epoch than the interval loses nothing
    "The number of training batches",
)
QUIET_INFO = (
    "💡 Tip",  # Lightning's advertisements for its cloud services
    "`Trainer.fit` stopped: `max_epochs=1` reached.",  # an L-BFGS model's one full-batch epoch: it converged
)


class RedactingParser(LightningArgumentParser):
    """Every config this parser writes (config.yaml beside the logs, the copies logged to MLflow, --print_config)
    has the password of each URL in it masked: a tracking URI may hold one."""

    def dump(self, *args, **kwargs) -> str:
        if "skip_none" in kwargs:  # Lightning's SaveConfigCallback still passes jsonargparse's deprecated name
            kwargs["skip_unset"] = kwargs.pop("skip_none")
        return redact(super().dump(*args, **kwargs))


class _DropInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET_INFO)


@contextmanager
def quiet() -> Iterator[None]:
    """Around a LightningCLI run: without the QUIET warnings and the QUIET_INFO lines."""
    drop, logger = _DropInfo(), logging.getLogger("lightning.pytorch.utilities.rank_zero")  # rank_zero_info's
    logger.addFilter(drop)
    with warnings.catch_warnings():
        for message in QUIET:
            warnings.filterwarnings("ignore", message=message)
        # LightningCLI's own calls of jsonargparse APIs that jsonargparse deprecates: nothing a user can change
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="lightning.pytorch.cli")
        try:
            yield
        finally:
            logger.removeFilter(drop)


class TaggerCLI(LightningCLI):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, parser_class=RedactingParser, **kwargs)

    def init_parser(self, **kwargs) -> LightningArgumentParser:
        """Every parser (the main one and each subcommand's) at the kept answers' width."""
        return super().init_parser(**{"formatter_class": HelpFormatter, **kwargs})

    def setup_parser(self, add_subcommands: bool, main_kwargs: dict, subparser_kwargs: dict) -> None:
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        self.parser.add_argument("--version", action="version", version=version_text())

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """No predict: tags come from `python -m tagger.predict`, which needs only the checkpoint."""
        return {name: skip for name, skip in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ThresholdTuner, "threshold")
        parser.add_class_arguments(FitTracking, "mlflow", fail_untyped=False)
        # Sizes flow from the data to the model, never copied into YAML.
        for name in ("vocab_size", "num_classes", "class_weights", "positive_rates"):
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        self._link_pretrained()
        trainer = self._get(self.config, "trainer")
        if self.subcommand in (None, "fit") and trainer.max_epochs == 0:
            raise TaggerError("--trainer.max_epochs 0 trains nothing (no checkpoint, no threshold); give 1 or more")
        tracking = self._get(self.config, "mlflow")
        if tracking.register_model is not None:  # else refused by the registry only after the whole fit
            check_model_name(tracking.register_model, "--mlflow.register_model")
        if tracking.tracking_uri is not None and self.subcommand == "fit":
            # else MLflow retries an unreachable database for minutes. Optuna comes with tune's check: only here
            from tagger.tune.storage import check_database

            check_database(tracking.tracking_uri, "--mlflow.tracking_uri")
        folder = Path(trainer.default_root_dir or os.getcwd()).absolute()
        if self.subcommand is not None and (reason := unwritable(folder)):  # else a traceback after loading data
            raise TaggerError(
                f"cannot write logs and checkpoints in {folder} ({reason}); run from a writable folder or give "
                "one with --trainer.default_root_dir"
            )

    def _link_pretrained(self) -> None:
        """A network on a pretrained encoder (tagger.models.encoder) gets the encoder the data's tokenizer comes
        from, ``--data.pretrained.encoder``: the one place it is named. (link_arguments cannot reach into the
        init_args of a network given as a callable.)"""
        init_args = self._get(self.config, "model").net.get("init_args")
        if init_args is None or "model" not in init_args:
            return
        encoder = self._get(self.config, "data").pretrained.encoder
        if init_args.model not in (None, encoder):
            raise TaggerError(
                f"the encoder is named twice, --model.net.model {init_args.model} and --data.pretrained.encoder "
                f"{encoder}; name it once, as --data.pretrained.encoder (the network gets it from there)"
            )
        init_args.model = encoder

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        net, features = type(self.model.net), self.datamodule.features
        if features_of(net) != self.datamodule.inputs:
            raise TaggerError(
                f"model.net {net.__name__} reads {features_of(net)} but --data.features is {features}; "
                f"give --data.features {features_of(net)} (see configs/ngram.yaml and configs/cnn.yaml)"
            )

    def instantiate_trainer(self, **kwargs) -> Trainer:
        tracking: FitTracking = self._get(self.config_init, "mlflow")
        mlflow_logger = None
        if tracking.tracking_uri is not None and self.subcommand == "fit":
            # the one switch: params, curves and the model to MLflow, beside the usual lightning_logs/
            root = self._get(self.config_init, "trainer").get("default_root_dir") or "."
            mlflow_logger = tracking.logger(lineage(self.datamodule), self._run_name())
            kwargs["logger"] = [CSVLogger(root), mlflow_logger]
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except MisconfigurationException as err:  # e.g. --trainer.accelerator gpu on a machine without one
            raise TaggerError(
                f"the trainer cannot start: {err}; use --trainer.accelerator cpu (or auto) and check --trainer.devices"
            ) from None
        if mlflow_logger is not None:
            trainer.callbacks.append(LogBestModel(tracking, mlflow_logger))
        precision, net = str(trainer.precision), type(self.model.net)
        if "bf16" in precision and features_of(net) == "tfidf" and isinstance(trainer.accelerator, CPUAccelerator):
            raise TaggerError(
                f"--trainer.precision {precision}: {net.__name__} multiplies sparse TF-IDF rows, which torch cannot "
                "do in bfloat16 on the CPU; leave --trainer.precision unset (32-true) for this config"
            )
        return trainer

    def _run_name(self) -> str:
        """What a fit run is called in MLflow (else a random name): its config files and network, e.g.
        ``ngram-NgramNet``."""
        configs = self._get(self.config, "config") or []
        return "-".join([*(Path(str(c)).stem for c in configs), type(self.model.net).__name__])

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        """Also refuse a --ckpt_path file that is no checkpoint of fit (a baseline .npz, a truncated file) as
        predict does, before LightningCLI reads its hyperparameters (a traceback from torch's zip reader)."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        path = subcommand and self.config[subcommand].get("ckpt_path")
        if path and Path(path).is_file():
            read_checkpoint(path, f"--ckpt_path {path}", map_location="cpu")

    def before_test(self) -> None:
        self._check_checkpoint(tuned=True)

    def before_validate(self) -> None:
        self._check_checkpoint(tuned=False)

    def _check_checkpoint(self, tuned: bool) -> None:
        """The checkpoint exists and was trained on this data's tags and vocabulary; to test, its threshold was
        tuned (the validation loss and average precision do not need it)."""
        path = self._get(self.config, "ckpt_path")
        if path is None or path in ("best", "last", "hpc", "registry"):
            return
        if not Path(path).is_file():
            raise TaggerError(f"--ckpt_path {path}: no such file; give a .ckpt written by fit")
        # predict's checks; mmap: the weights are read once more by test right after
        ckpt = read_checkpoint(path, f"--ckpt_path {path}", map_location="cpu", mmap=True)
        saved = ckpt[TaggerDataModule.__qualname__]
        if tuned:
            check_tuned(ckpt, f"--ckpt_path {path}")
        dm, inputs = self.datamodule, len(encoder_from_state(saved))
        if list(saved["classes"]) != dm.classes or inputs != dm.vocab_size:
            raise TaggerError(
                f"--ckpt_path {path} was trained on other data ({len(saved['classes'])} tags, {inputs} inputs; "
                f"this data yields {dm.num_classes} tags, {dm.vocab_size} inputs); use the same data and --data "
                "settings as its fit"
            )

    def rebuild(self, args: list[str]) -> "TaggerCLI":
        """Datamodule, model and trainer built again from other arguments on the same parser (which costs about as
        much as the objects): what a study's pre-flight does for every edge of its search space."""
        self.parse_arguments(self.parser, args)
        self.before_instantiate_classes()
        self.instantiate_classes()
        return self

    def after_fit(self) -> None:
        """A fit ends by saying where its model is and what it scores at its tuned threshold."""
        if not self.trainer.is_global_zero or self.trainer.interrupted:
            return
        best = getattr(self.trainer.checkpoint_callback, "best_model_path", "") or "none saved"
        threshold = self.model.threshold.cpu().numpy()
        line = f"best checkpoint: {best}; threshold {float(threshold.mean()):.4f}"
        if self.datamodule.train_on == "train":
            probs, targets = predict_split(self.model, self.datamodule.dataloader("val"))
            f1 = score(targets, probs, threshold, self.datamodule.classes)["overall"]["f1"]
            line += f"; validation macro F1 {f1:.4f}"
        else:  # the validation projects were trained on: their score says nothing
            line += f"; trained on {self.datamodule.train_on}"
        print(line, flush=True)

    def after_test(self) -> None:
        """Per-class figures do not fit the logged scalars: keep the whole report beside the logs."""
        report = self.model.test_report
        if report is not None and self.trainer.is_global_zero and self.trainer.log_dir:
            path = Path(self.trainer.log_dir) / "test_report.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2))
            print(f"test report: {path}")


def cli_main(args: list[str] | None = None, **kwargs) -> TaggerCLI:
    with quiet(), disk_full_reported():
        return TaggerCLI(TaggerModule, TaggerDataModule, args=args, **kwargs)


def build(args: list[str], **kwargs) -> TaggerCLI:
    """Datamodule, model and trainer exactly as `fit` builds them, not run; a bad argument raises
    (ArgumentError) instead of exiting, so the caller can say which input is wrong."""
    return cli_main(args, run=False, save_config_callback=None, parser_kwargs={"exit_on_error": False}, **kwargs)


@contextmanager
def disk_full_reported() -> Iterator[None]:
    """A full disk while writing checkpoints or logs ends in one line naming the folder. Lightning writes a
    checkpoint to a temporary file and moves it into place: the half-moved one is removed, and the whole ones saved
    before it are named, to resume from (fit --ckpt_path)."""
    try:
        yield
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        if err.filename2:
            Path(err.filename2).unlink(missing_ok=True)
        written = err.filename2 or err.filename
        if not written:
            raise TaggerError(
                "no space left on the device fit writes its logs and checkpoints to; free some or give another "
                "--trainer.default_root_dir"
            ) from None
        folder = Path(written).parent
        latest = max(folder.glob("*.ckpt"), key=lambda path: path.stat().st_mtime, default=None)
        resume = f", then resume with fit --ckpt_path {latest}" if latest else ""
        raise TaggerError(
            f"no space left on the device of {folder}; free some or give another --trainer.default_root_dir{resume}"
        ) from None
