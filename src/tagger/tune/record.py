"""What a trial stores, written and read in one place; the outcomes a trial or a study can end with."""

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


class Outcome(enum.Enum):
    """How a trial (or a study run) ended; trackers map it to their own run states."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # Ctrl-C: the trial is queued for a retry
    WORKER_DIED = "worker died"  # no heartbeat, or its process is gone: retried if retries are left


# Record fields and the user attribute each is stored under (metrics are stored under their own names).
_ATTRS = {
    "epochs": "epochs",
    "worker": "worker",
    "run_id": "mlflow_run_id",
    "retry_of": "retry_of",
    "resumed_from_epoch": "resumed_from_epoch",
    "num_params": "num_params",
    "config": "config",
}


@dataclass
class TrialRecord:
    """A trial's results and provenance, kept as Optuna user attributes (so trials.csv shows them).

    metrics: validation and test figures at the tuned threshold (val_f1, test_f1, ..., threshold).
    """

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int | None = None
    worker: str | None = None
    run_id: str | None = None
    retry_of: int | None = None
    resumed_from_epoch: int | None = None
    num_params: int | None = None
    config: str | None = None  # the full resolved fit config (YAML) the trial trained with

    def save(self, trial: optuna.Trial) -> None:
        """Write every field that is set; params are the trial's own."""
        for name, attr in _ATTRS.items():
            value = getattr(self, name)
            if value is not None:
                trial.set_user_attr(attr, value)
        for key, value in self.metrics.items():
            trial.set_user_attr(key, value)

    @classmethod
    def of(cls, trial: FrozenTrial) -> "TrialRecord":
        attrs = dict(trial.user_attrs)
        known = {name: attrs.pop(attr, None) for name, attr in _ATTRS.items()}
        metrics = {k: float(v) for k, v in attrs.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return cls(params=dict(trial.params), metrics=metrics, **known)

    def metric(self, name: str) -> float:
        return self.metrics.get(name, math.nan)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The complete trial with the highest validation F1 (None before the first; study.best_trial raises)."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(completed, key=lambda t: t.value) if completed else None
