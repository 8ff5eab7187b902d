"""Experiment tracking behind one interface; MLflow implements it. One parent run per study (shared by all its
workers), one child run per trial, each closed with its true outcome."""

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import optuna
import sqlalchemy
import yaml
from jsonargparse import lazy_instance
from lightning.pytorch.loggers import Logger
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from tagger.errors import TaggerError
from tagger.lineage import fixed_settings
from tagger.redact import first_line, quote_password, redact
from tagger.registry import EpochLogger, log_model
from tagger.tune.handover import HandOver
from tagger.tune.record import Outcome, TrialRecord
from tagger.tune.storage import retry_racing

PARENT_ATTR = "mlflow_parent_run_id"  # study user attribute: the parent run every worker shares
STORE_ATTR = "mlflow_tracking_uri"  # study user attribute: where its runs are (password redacted)
MODEL_TAG = "tagger.model_of_trial"  # parent run tag: "<trial>:<registered name>" of the model logged on it
TEST_FIGURES = ("f1", "precision", "recall", "f1_weighted", "f1_micro")  # a registered version's test_* tags


def existing_store(tracking_uri: str) -> MlflowClient | None:
    """A client of a tracking store that exists, to read it: None for a SQLite file not made yet (a client would
    make it) or a store that does not open (MlflowTracker says why)."""
    try:
        parsed = make_url(quote_password(tracking_uri)) if tracking_uri.startswith("sqlite:") else None
        if parsed is not None and not Path(parsed.database or "").is_file():
            return None
        client = MlflowClient(tracking_uri)
        client.search_experiments(max_results=1)
    except Exception:  # MLflow raises many types (connection, SQL, permissions) for one problem
        return None
    return client


class Tracker(Protocol):
    """What a study records outside Optuna; trial runs are named by the id start_trial returns."""

    def start_study(self, study: optuna.Study, tags: dict[str, str], params: dict[str, str], config: str) -> None:
        """The study's record, created once: lineage tags, the fixed settings as params, the base config."""

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str], config: str) -> str:
        """A trial's record: its settings as params, lineage tags, its full config."""

    def trial_logger(self, run_id: str, prefix: str = "") -> Logger:
        """The Lightning logger of a trial's curves (a jsonargparse lazy_instance, as LightningCLI takes it)."""

    def end_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Close a finished trial's record with its outcome and final figures: an Optuna optimize callback."""

    def reconcile(self, trials: Iterable[FrozenTrial]) -> None:
        """Close the records left open by trials that ended elsewhere (a killed worker's, say)."""

    def publish(
        self, handover: HandOver | None, files: Iterable[Path], register_model: str | None, front: list[int] | None
    ) -> None:
        """The study's outputs and handed-over trial on its record; best.ckpt among the files as its model, with
        the figures measured on it."""

    def end_study(self, outcome: Outcome) -> None: ...


class _TrialLogger(EpochLogger):
    """Curves only: the trial's params are logged once by start_trial (Lightning's own dump would add derived
    values that differ between a trial's fold models, which MLflow refuses to overwrite)."""

    def log_hyperparams(self, params: Any) -> None:
        pass


class MlflowTracker:
    """Runs in one MLflow experiment named after the study."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # store migrations, model validation: not news
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.uri, self.study_name, self.parent_id = tracking_uri, experiment, None
        races = (MlflowException, sqlalchemy.exc.SQLAlchemyError)  # workers starting together create one experiment
        try:
            self.client, self.experiment_id = retry_racing(lambda: self._connect(experiment), races=races)
        except Exception as err:  # MLflow raises many types (connection, SQL, permissions) for one problem
            raise TaggerError(
                f"cannot use MLflow tracking URI {redact(tracking_uri)}: {first_line(err)}; "
                "check --tracking-uri / $MLFLOW_TRACKING_URI"
            ) from None

    def _connect(self, experiment: str) -> tuple[MlflowClient, str]:
        client = MlflowClient(self.uri)
        found = client.get_experiment_by_name(experiment)
        return client, found.experiment_id if found else client.create_experiment(experiment)

    def _log(self, run_id: str, metrics=None, params=None, tags=None) -> None:
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def start_study(self, study: optuna.Study, tags: dict[str, str], params: dict[str, str], config: str) -> None:
        """Created once; on resume marked running again, its tags updated (the code may have changed since)."""
        self.parent_id = study.user_attrs.get(PARENT_ATTR)
        if self.parent_id:
            try:
                self.client.get_run(self.parent_id)
            except MlflowException:
                raise TaggerError(
                    f"study {study.study_name!r} tracks its runs in {study.user_attrs.get(STORE_ATTR, 'another store')}"
                    f", not in {redact(self.uri)}; rerun with that --tracking-uri, or start another --study-name"
                ) from None
            self.client.update_run(self.parent_id, status=RunStatus.to_string(RunStatus.RUNNING))
            self._log(self.parent_id, tags=tags)
            return
        self.parent_id = self.client.create_run(self.experiment_id, run_name=study.study_name, tags=tags).info.run_id
        study.set_user_attr(PARENT_ATTR, self.parent_id)
        study.set_user_attr(STORE_ATTR, redact(self.uri))
        self._log(self.parent_id, params=params)
        self.client.log_text(self.parent_id, config, "config.yaml")

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str], config: str) -> str:
        own = {"mlflow.parentRunId": self.parent_id, "optuna.study_name": self.study_name}
        own |= {"optuna.trial_number": str(number), "optuna.state": TrialState.RUNNING.name}
        run_id = self.client.create_run(self.experiment_id, run_name=f"trial-{number}", tags=tags | own).info.run_id
        self._log(run_id, params=params)
        self.client.log_text(run_id, config, "config.yaml")
        return run_id

    def trial_logger(self, run_id: str, prefix: str = "") -> Logger:
        return lazy_instance(_TrialLogger, tracking_uri=self.uri, run_id=run_id, prefix=prefix)

    def end_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        record, outcome = TrialRecord.of(trial), Outcome.of(trial)
        if not record.run_id:  # ended before its run was opened
            return
        tags = {"optuna.state": outcome.state.name}
        reason = record.rejected or record.failed or outcome.reason
        if reason:  # a pruned trial's reason: why it was rejected before training
            tags["tagger.rejected" if outcome is Outcome.PRUNED else "optuna.fail_reason"] = redact(reason)[:5000]
        ended = outcome in (Outcome.COMPLETE, Outcome.PRUNED)  # a pruned or rejected trial: its costs
        final = {f"final/{k}": v for k, v in record.metrics.items()} if ended else {}
        self._log(record.run_id, metrics=final, tags=tags)
        self.client.set_terminated(record.run_id, outcome.status)

    def reconcile(self, trials: Iterable[FrozenTrial]) -> None:
        for trial in trials:
            run_id = TrialRecord.of(trial).run_id
            if trial.state.is_finished() and run_id and self.client.get_run(run_id).info.status == "RUNNING":
                self.end_trial(None, trial)

    def publish(
        self, handover: HandOver | None, files: Iterable[Path], register_model: str | None, front: list[int] | None
    ) -> None:
        if not self.parent_id:
            return
        if handover is not None:  # tags, not params: a resumed study may hand over another trial
            best = handover.trial
            config = fixed_settings(yaml.safe_load(TrialRecord.of(best).config or "{}") or {})
            tags = {f"best.{key}": value for key, value in (config | best.params).items()} | {"best_trial": best.number}
            self._log(self.parent_id, metrics={"best_value": best.values[0]}, tags=tags)
        if front is not None:  # the front's figures are in pareto.csv, among the files
            tags = {"pareto_front": ",".join(map(str, sorted(front)))}
            self._log(self.parent_id, metrics={"pareto_front_size": len(front)}, tags=tags)
        files = list(files)
        for path in files:
            if path.name != "best.ckpt":  # stored once, as the run's MLflow model (which the registry refers to)
                self.client.log_artifact(self.parent_id, str(path))
        model = next((path for path in files if path.name == "best.ckpt"), None)
        if handover is not None and handover.test and model is not None:
            self._log_model(handover, model, register_model)

    def _log_model(self, handover: HandOver, model: Path, register_model: str | None) -> None:
        """Once per handed-over trial (and registry name): a rerun whose winner has not changed adds no version.
        The version's figures are the model's own (best.json's test split), beside the objective that chose it."""
        best = handover.trial
        logged = f"{best.number}:{register_model or ''}"
        if self.client.get_run(self.parent_id).data.tags.get(MODEL_TAG) == logged:
            return
        test = handover.test
        tags = {
            "study": self.study_name,
            "trial": best.number,
            "val_f1": best.values[0],
            "trained_on": test["train_on"],
        }
        tags |= {f"test_{name}": test[name] for name in TEST_FIGURES}
        info = log_model(model, self.uri, self.parent_id, register_model, tags)
        self.client.set_tag(self.parent_id, MODEL_TAG, logged)
        where = f"registered as {register_model} version {info.registered_model_version}"
        print(f"best model {where if register_model else 'logged'} ({info.model_uri})", flush=True)

    def end_study(self, outcome: Outcome) -> None:
        if self.parent_id:
            self.client.set_terminated(self.parent_id, outcome.status)
