"""MLflow: one parent run per study, one child run per trial, every run closed with its true outcome."""

import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from tagger.errors import TaggerError

PARENT_ATTR = "mlflow_parent_run_id"
T = TypeVar("T")


def retry_racing(fn: Callable[[], T], attempts: int = 4) -> T:
    """Set-up that races with other workers starting at the same moment (both creating the tables of a fresh
    database, or the same experiment) succeeds once the winner is done: try again after a random pause."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except Exception:
            time.sleep(0.5 + random.random() * 2)
    return fn()


def redact(uri: str) -> str:
    """The URI with any password replaced, for logs, params and files."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", uri)


class Tracking:
    """Runs in one MLflow experiment named after the study; all workers share the study's parent run."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.uri = tracking_uri
        try:
            self.client, self.experiment_id = retry_racing(lambda: self._connect(experiment))
        except Exception as err:  # MLflow raises many types (connection, SQL, permissions) for one problem
            raise TaggerError(
                f"cannot use MLflow tracking URI {redact(tracking_uri)}: {redact(str(err)).splitlines()[0]}; "
                "check --tracking-uri / $MLFLOW_TRACKING_URI"
            ) from None
        self.parent_id: str | None = None

    def _connect(self, experiment: str) -> tuple[MlflowClient, str]:
        client = MlflowClient(self.uri)
        found = client.get_experiment_by_name(experiment)
        return client, found.experiment_id if found else client.create_experiment(experiment)

    def open_parent(self, study: optuna.Study, tags: dict[str, str]) -> str:
        """The study's parent run, created once and marked running again on resume."""
        self.parent_id = study.user_attrs.get(PARENT_ATTR)
        if self.parent_id:
            self.client.update_run(self.parent_id, status=RunStatus.to_string(RunStatus.RUNNING))
        else:
            run = self.client.create_run(self.experiment_id, run_name=study.study_name, tags=tags)
            self.parent_id = run.info.run_id
            study.set_user_attr(PARENT_ATTR, self.parent_id)
        return self.parent_id

    def close_parent(self, status: str = "FINISHED") -> None:
        if self.parent_id:
            self.client.set_terminated(self.parent_id, status)

    def start_child(self, trial: optuna.Trial, params: dict[str, Any]) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_id,
                "optuna.study_name": trial.study.study_name,
                "optuna.trial_number": str(trial.number),
                "optuna.state": "RUNNING",
            },
        )
        for key, value in params.items():
            self.client.log_param(run.info.run_id, key, value)
        return run.info.run_id

    def end_child(self, run_id: str, state: optuna.trial.TrialState, reason: str | None = None) -> None:
        """FINISHED for complete and pruned trials (pruning is a normal outcome), else FAILED/KILLED."""
        self.client.set_tag(run_id, "optuna.state", state.name)
        if reason:
            self.client.set_tag(run_id, "optuna.fail_reason", redact(reason)[:5000])
        if state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            status = "FINISHED"
        else:
            status = "KILLED" if reason == "interrupted" else "FAILED"
        self.client.set_terminated(run_id, status)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, value)

    def close_dead_trial(self, trial: optuna.trial.FrozenTrial) -> None:
        """The run of a trial whose worker died (no heartbeat, or its process is gone)."""
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            self.end_child(run_id, optuna.trial.TrialState.FAIL, "worker died; trial retried if retries are left")

    def reconcile(self, study: optuna.Study) -> None:
        """Close any run left RUNNING by a trial that has ended (its worker was killed, say)."""
        ended = (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        )
        for trial in study.get_trials(deepcopy=False, states=ended):
            run_id = trial.user_attrs.get("mlflow_run_id")
            if run_id and self.client.get_run(run_id).info.status == "RUNNING":
                if trial.state == optuna.trial.TrialState.FAIL:
                    self.close_dead_trial(trial)
                else:
                    self.end_child(run_id, trial.state)
