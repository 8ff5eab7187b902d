"""One trial: suggest, build from the config, fit with pruning, return the validation macro F1."""

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import optuna
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from optuna_integration import PyTorchLightningPruningCallback

from tagger.callbacks import predict_split
from tagger.cli import TaggerCLI, cli_main
from tagger.metrics import classification_report
from tagger.tune.report import best_trial
from tagger.tune.search_space import Param, suggest, to_cli_args
from tagger.tune.storage import WORKER, Admission
from tagger.tune.tracking import Tracking

# Pruning compares per-epoch values in the study's direction (maximise); the seed reported val loss
# to a maximising study, so no trial ever looked worse than the median. Macro average precision rises
# as soon as a model learns, while F1 at 0.5 stays near 0 for early, well-trained epochs (class weights
# push probabilities down) and would rank an untrained model above them.
PRUNING_MONITOR = "val/ap"


class TrialInterrupted(Exception):
    """Ctrl-C during a trial. An Exception, not a KeyboardInterrupt: Lightning answers the latter with
    sys.exit, and Optuna then leaves the trial RUNNING; this way Optuna records it as FAILED."""


class StopOnRequest(L.Callback):
    """Ends the trial at the next batch once the user has asked the study to stop."""

    def __init__(self, stop_requested: Callable[[], bool]) -> None:
        self.stop_requested = stop_requested

    def _check(self, *args: Any) -> None:
        if self.stop_requested():
            raise TrialInterrupted("interrupted")

    on_train_batch_end = on_validation_batch_end = _check


def build(base_args: list[str], params: dict[str, Any]) -> TaggerCLI:
    """The trial's datamodule, model and trainer, exactly as `tagger.cli fit` would build them."""
    return cli_main(
        [*base_args, *to_cli_args(params)],
        run=False,
        save_config_callback=None,
        parser_kwargs={"exit_on_error": False},  # raise, so the caller can say which input is wrong
    )


def _has(trainer, kind: type) -> bool:
    return any(isinstance(cb, kind) for cb in trainer.callbacks)


class Objective:
    def __init__(
        self,
        base_args: list[str],
        space: dict[str, Param],
        tracking: Tracking,
        output_dir: Path,
        stop_requested: Callable[[], bool],
        admission: Admission,
        retry: Callable[[optuna.Study, FrozenTrial], None],
    ) -> None:
        self.base_args = base_args
        self.space = space
        self.tracking = tracking
        self.output_dir = output_dir
        self.stop_requested = stop_requested  # has the user asked to stop?
        self.admission = admission  # held by the trial loop until this trial exists
        self.retry = retry  # queues a retry (same params) of an interrupted trial

    def __call__(self, trial: optuna.Trial) -> float:
        self.admission.release()
        params = suggest(trial, self.space)
        run_id = self.tracking.start_child(trial, params)
        trial.set_user_attr("mlflow_run_id", run_id)
        trial.set_user_attr("worker", WORKER)
        frozen = trial.study._storage.get_trial(trial._trial_id)  # Trial hides its system attrs
        retry_of = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
        if retry_of is not None:
            trial.set_user_attr("retry_of", retry_of)
        # A retry works in its first attempt's folder, so it resumes from that attempt's last epoch.
        trial_dir = self.output_dir / "trials" / f"trial_{trial.number if retry_of is None else retry_of}"
        resume = trial_dir / "resume" / "last.ckpt"
        keep_dir = False
        try:
            quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
            cli = build([*self.base_args, f"--trainer.default_root_dir={trial_dir}", *quiet], params)
            trainer = cli.trainer
            trainer.logger = MLFlowLogger(tracking_uri=self.tracking.uri, run_id=run_id)
            if not _has(trainer, EarlyStopping):  # a config without them still tunes sensibly
                trainer.callbacks.append(EarlyStopping(monitor="val/loss", patience=10))
            if not _has(trainer, ModelCheckpoint):  # first, so it stays trainer.checkpoint_callback (the best)
                trainer.callbacks.append(ModelCheckpoint(monitor="val/loss"))
            trainer.callbacks.append(PyTorchLightningPruningCallback(trial, monitor=PRUNING_MONITOR))
            trainer.callbacks.append(StopOnRequest(self.stop_requested))
            # Every epoch's end state (weights, optimiser, loops), overwritten: what a retry resumes from.
            trainer.callbacks.append(
                ModelCheckpoint(dirpath=resume.parent, filename=resume.stem, save_top_k=1, enable_version_counter=False)
            )
            if resume.exists():  # mmap: read the epoch without loading the weights twice
                epoch = torch.load(resume, weights_only=True, mmap=True)["epoch"]
                trial.set_user_attr("resumed_from_epoch", epoch + 1)
            try:
                trainer.fit(cli.model, cli.datamodule, ckpt_path=resume if resume.exists() else None)
            finally:
                trial.set_user_attr("epochs", trainer.current_epoch)
            value = self._record(trial, cli, run_id)
            self._keep_if_best(trial, value, trainer.checkpoint_callback.best_model_path)
        except optuna.TrialPruned:
            self.tracking.end_child(run_id, TrialState.PRUNED)
            raise
        except (TrialInterrupted, KeyboardInterrupt, SystemExit) as err:
            self.tracking.end_child(run_id, TrialState.FAIL, "interrupted")
            self.retry(trial.study, trial.study._storage.get_trial(trial._trial_id))  # a rerun resumes it
            keep_dir = True
            if isinstance(err, TrialInterrupted):
                raise
            raise KeyboardInterrupt from None  # a second Ctrl-C: Lightning exits; Optuna must still see it
        except Exception as err:
            self.tracking.end_child(run_id, TrialState.FAIL, f"{type(err).__name__}: {err}")
            raise
        finally:
            if not keep_dir:
                shutil.rmtree(trial_dir, ignore_errors=True)
                with contextlib.suppress(OSError):
                    trial_dir.parent.rmdir()  # gone once no trial here is running or waiting to resume
        self.tracking.end_child(run_id, TrialState.COMPLETE)
        return value

    def _record(self, trial: optuna.Trial, cli: TaggerCLI, run_id: str) -> float:
        """Validation and test metrics at the tuned threshold; only validation F1 drives the search."""
        module, dm = cli.model, cli.datamodule
        threshold = module.threshold.item()
        metrics: dict[str, float] = {"threshold": threshold}
        for split in ("val", "test"):
            probs, targets = predict_split(module, dm.dataloader(split))
            overall = classification_report(targets, (probs >= threshold).astype(np.int64), dm.classes)["overall"]
            metrics |= {f"{split}_{name}": value for name, value in overall.items()}
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        self.tracking.log_metrics(run_id, {f"final/{k}": v for k, v in metrics.items()})
        return metrics["val_f1"]

    def _keep_if_best(self, trial: optuna.Trial, value: float, checkpoint: str) -> None:
        """Keep the model of a trial that beats every finished one; the report keeps only the best's."""
        best = best_trial(trial.study)
        if checkpoint and (best is None or value > best.value):
            models = self.output_dir / "models"
            models.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(checkpoint, models / f"trial_{trial.number}.ckpt")
