"""Bookkeeping around one trial's objective: its record, its tracked run, the folder a retry resumes from, and
what an interrupt leaves (a queued retry, and the study stopped after this trial)."""

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import optuna
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from tagger.lineage import fixed_settings
from tagger.tune.interrupt import StopRequest, TrialInterrupted, is_interrupt
from tagger.tune.progress import EpochLine
from tagger.tune.record import TrialRecord
from tagger.tune.storage import WORKER
from tagger.tune.tracker import Tracker


class StopOnRequest(L.Callback):
    """Ends the trial at the next batch once the user has asked the study to stop."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop

    def _check(self, *args: Any) -> None:
        if self.stop.requested:
            raise TrialInterrupted("interrupted")

    on_train_batch_end = on_validation_batch_end = _check


class TrialRun:
    """Use as ``with TrialRun(...) as run: value = objective(trial, plan, run)``.

    The objective calls ``start(params)`` once it has suggested them, trains with ``trainer_defaults()`` from
    ``resume_from()``, and fills ``record``. A trial that fits several models (cross-validation folds) names each
    by a ``part``: its own folder and curves.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        tracker: Tracker,
        output_dir: Path,
        stop: StopRequest,
        retry: Callable[[optuna.Study, FrozenTrial], None],
    ) -> None:
        self.trial, self.tracker, self.stop, self.retry = trial, tracker, stop, retry
        retry_of = RetryHeartbeatStaleTrialCallback.retried_trial_number(self._frozen())
        self.record = TrialRecord(worker=WORKER, retry_of=retry_of)
        self.record.save(trial)  # claimed: its worker is known at once, so a dead worker's trial is told apart
        # A retry works in its first attempt's folder, so it resumes from that attempt's last epoch.
        self.dir = output_dir / "trials" / f"trial_{trial.number if retry_of is None else retry_of}"

    def _frozen(self) -> FrozenTrial:
        """The trial as stored, system attributes included (which a running Trial does not show)."""
        return self.trial.study.get_trials(deepcopy=False)[self.trial.number]

    def part_dir(self, part: str = "") -> Path:
        return self.dir / part if part else self.dir

    def resume_from(self, part: str = "") -> Path | None:
        path = self.part_dir(part) / "resume" / "last.ckpt"
        return path if path.exists() else None

    def start(self, params: dict[str, Any], lineage: dict[str, str]) -> None:
        """Open the trial's tracked run; record.config (the trial's full config) is set before."""
        config = self.record.config or ""
        settings = fixed_settings(yaml.safe_load(config) or {}) | params  # what a user compares, once each
        self.record.run_id = self.tracker.start_trial(self.trial.number, settings, lineage, config)
        if (resume := self.resume_from()) is not None:  # mmap: read the epoch without loading the weights twice
            self.record.resumed_from_epoch = torch.load(resume, weights_only=True, mmap=True)["epoch"] + 1
        self.record.save(self.trial)

    def trainer_defaults(self, callbacks: list[L.Callback], part: str = "") -> dict[str, Any]:
        """LightningCLI trainer defaults: quiet, logging to the trial's run; callbacks (first) plus the stop check
        and every epoch's end state (weights, optimiser, loops), overwritten: what a retry resumes."""
        folder = self.part_dir(part)
        last_epoch = ModelCheckpoint(dirpath=folder / "resume", filename="last", enable_version_counter=False)
        return {
            "default_root_dir": str(folder),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": self.tracker.trial_logger(self.record.run_id, prefix=part),
            "callbacks": [*callbacks, StopOnRequest(self.stop), EpochLine(self.trial.number, part), last_epoch],
        }

    def __enter__(self) -> "TrialRun":
        return self

    def __exit__(self, exc_type, err: BaseException | None, tb) -> None:
        interrupted = is_interrupt(err)
        self.record.interrupted = interrupted or None
        if err is not None and not interrupted and not isinstance(err, optuna.TrialPruned):
            self.record.failed = f"{type(err).__name__}: {err}"
        self.record.save(self.trial)
        if interrupted:  # the folder stays: the queued retry resumes from it; no trial starts after this one
            self.retry(self.trial.study, self._frozen())
            self.trial.study.stop()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.dir.parent.rmdir()  # gone once no trial here is running or waiting to resume
        if isinstance(err, SystemExit):  # a second Ctrl-C: Lightning exits; Optuna must still see it
            raise KeyboardInterrupt from None
