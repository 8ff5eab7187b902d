"""Experiment tracking behind one interface; MLflow implements it, and nothing else in tagger imports mlflow.

One parent run per study (shared by all its workers), one child run per trial, each closed with its true
outcome.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import optuna
import sqlalchemy
from jsonargparse import lazy_instance
from lightning.pytorch.loggers import Logger
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from tagger.errors import TaggerError
from tagger.registry import EpochLogger, log_model
from tagger.tune.errors import retry_racing
from tagger.tune.record import Outcome, TrialRecord
from tagger.tune.storage import first_line, redact

PARENT_ATTR = "mlflow_parent_run_id"  # study user attribute: the parent run every worker shares
MODEL_TAG = "tagger.model_of_trial"  # parent run tag: "<trial>:<registered name>" of the model logged on it


class Tracker(Protocol):
    """What a study records outside Optuna. Trial runs are identified by the id start_trial returns."""

    def start_study(self, study: optuna.Study, tags: dict[str, str], params: dict[str, str], config: str) -> None:
        """The study's record: lineage tags, the fixed settings as params, the resolved base config."""
        ...

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str], config: str) -> str:
        """A trial's record: its searched and fixed settings as params, lineage tags, its full config."""
        ...

    def trial_logger(self, run_id: str, prefix: str = "") -> Logger:
        """The Lightning logger that writes a trial's per-epoch curves into its run (names prefixed, one
        prefix per model a trial fits); a jsonargparse ``lazy_instance``, as LightningCLI takes defaults."""
        ...

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None: ...

    def end_trial(self, run_id: str, outcome: Outcome, reason: str | None = None) -> None: ...

    def reconcile(self, trials: Iterable[FrozenTrial]) -> None:
        """Close any run left open by a trial that has ended (its worker was killed, say)."""
        ...

    def publish(
        self,
        best: TrialRecord | None,
        best_number: int | None,
        files: Iterable[Path],
        model: Path | None = None,
        register_model: str | None = None,
        front: list[int] | None = None,
    ) -> None:
        """The study's outputs and best (picked) trial, on the study's record; ``model`` (the best model file)
        as the study's model, registered as ``register_model`` if given; ``front``: a multi-objective study's
        Pareto-optimal trial numbers."""
        ...

    def end_study(self, outcome: Outcome) -> None: ...


_STATUS = {
    Outcome.COMPLETE: "FINISHED",
    Outcome.PRUNED: "FINISHED",  # pruning is a normal outcome
    Outcome.FAILED: "FAILED",
    Outcome.WORKER_DIED: "FAILED",
    Outcome.INTERRUPTED: "KILLED",
}
_REASONS = {Outcome.WORKER_DIED: "worker died; trial retried if retries are left", Outcome.INTERRUPTED: "interrupted"}
# Set-up races between workers starting together: both create the experiment or the store's tables.
_RACES = (MlflowException, sqlalchemy.exc.SQLAlchemyError)


class _TrialLogger(EpochLogger):
    """Curves only: the trial's params are logged once by start_trial. Lightning's own hyperparameter dump
    would repeat them beside derived values (vocabulary size, class weights) that differ between the models
    of one trial (cross-validation folds), which MLflow refuses to overwrite."""

    def log_hyperparams(self, params: Any) -> None:
        pass


class MlflowTracker:
    """Runs in one MLflow experiment named after the study."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.uri = tracking_uri
        try:
            self.client, self.experiment_id = retry_racing(lambda: self._connect(experiment), races=_RACES)
        except Exception as err:  # MLflow raises many types (connection, SQL, permissions) for one problem
            raise TaggerError(
                f"cannot use MLflow tracking URI {redact(tracking_uri)}: {first_line(err)}; "
                "check --tracking-uri / $MLFLOW_TRACKING_URI"
            ) from None
        self.study_name = experiment
        self.parent_id: str | None = None

    def _connect(self, experiment: str) -> tuple[MlflowClient, str]:
        client = MlflowClient(self.uri)
        found = client.get_experiment_by_name(experiment)
        return client, found.experiment_id if found else client.create_experiment(experiment)

    def start_study(self, study: optuna.Study, tags: dict[str, str], params: dict[str, str], config: str) -> None:
        """The study's parent run, created once and marked running again on resume (its tags then updated:
        the code may have changed since)."""
        self.parent_id = study.user_attrs.get(PARENT_ATTR)
        if self.parent_id:
            self.client.update_run(self.parent_id, status=RunStatus.to_string(RunStatus.RUNNING))
            for key, value in tags.items():
                self.client.set_tag(self.parent_id, key, value)
        else:
            run = self.client.create_run(self.experiment_id, run_name=study.study_name, tags=tags)
            self.parent_id = run.info.run_id
            study.set_user_attr(PARENT_ATTR, self.parent_id)
            for key, value in params.items():
                self.client.log_param(self.parent_id, key, value)
            self.client.log_text(self.parent_id, config, "config.yaml")

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str], config: str) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number}",
            tags=tags
            | {
                "mlflow.parentRunId": self.parent_id,
                "optuna.study_name": self.study_name,
                "optuna.trial_number": str(number),
                "optuna.state": TrialState.RUNNING.name,
            },
        )
        for key, value in params.items():
            self.client.log_param(run.info.run_id, key, value)
        self.client.log_text(run.info.run_id, config, "config.yaml")
        return run.info.run_id

    def trial_logger(self, run_id: str, prefix: str = "") -> Logger:
        return lazy_instance(_TrialLogger, tracking_uri=self.uri, run_id=run_id, prefix=prefix)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, value)

    def end_trial(self, run_id: str, outcome: Outcome, reason: str | None = None) -> None:
        state = {Outcome.COMPLETE: TrialState.COMPLETE, Outcome.PRUNED: TrialState.PRUNED}.get(outcome, TrialState.FAIL)
        self.client.set_tag(run_id, "optuna.state", state.name)
        reason = reason or _REASONS.get(outcome)
        if reason:  # a pruned trial's reason: why it was rejected before training
            key = "tagger.rejected" if outcome is Outcome.PRUNED else "optuna.fail_reason"
            self.client.set_tag(run_id, key, redact(reason)[:5000])
        self.client.set_terminated(run_id, _STATUS[outcome])

    def reconcile(self, trials: Iterable[FrozenTrial]) -> None:
        ended = {TrialState.COMPLETE: Outcome.COMPLETE, TrialState.PRUNED: Outcome.PRUNED}
        for trial in trials:
            run_id = TrialRecord.of(trial).run_id
            if trial.state.is_finished() and run_id and self.client.get_run(run_id).info.status == "RUNNING":
                self.end_trial(run_id, ended.get(trial.state, Outcome.WORKER_DIED))

    def publish(
        self,
        best: TrialRecord | None,
        best_number: int | None,
        files: Iterable[Path],
        model: Path | None = None,
        register_model: str | None = None,
        front: list[int] | None = None,
    ) -> None:
        if not self.parent_id:
            return
        if best is not None:
            for key, value in best.params.items():  # tags, not params: a resumed study may find a new best
                self.client.set_tag(self.parent_id, f"best.{key}", str(value))
            self.client.log_metric(self.parent_id, "best_value", best.metric("val_f1"))
            self.client.set_tag(self.parent_id, "best_trial", str(best_number))
        if front is not None:  # the front's figures are in pareto.csv, among the files
            self.client.set_tag(self.parent_id, "pareto_front", ",".join(map(str, sorted(front))))
            self.client.log_metric(self.parent_id, "pareto_front_size", len(front))
        for path in files:
            self.client.log_artifact(self.parent_id, str(path))
        if best is not None and model is not None and model.exists():
            self._log_model(best, best_number, model, register_model)

    def _log_model(self, best: TrialRecord, number: int, model: Path, register_model: str | None) -> None:
        """Once per best trial (and registry name): a rerun whose winner has not changed adds no version."""
        logged = f"{number}:{register_model or ''}"
        if self.client.get_run(self.parent_id).data.tags.get(MODEL_TAG) == logged:
            return
        tags = {
            "study": self.study_name,
            "trial": number,
            "val_f1": best.metric("val_f1"),
            "test_f1": best.metric("test_f1"),
        }
        info = log_model(model, self.uri, self.parent_id, register_model, tags)
        self.client.set_tag(self.parent_id, MODEL_TAG, logged)
        where = f"registered as {register_model} version {info.registered_model_version}"
        print(f"best model {where if register_model else 'logged'} ({info.model_uri})", flush=True)

    def end_study(self, outcome: Outcome) -> None:
        if self.parent_id:
            self.client.set_terminated(self.parent_id, _STATUS[outcome])
