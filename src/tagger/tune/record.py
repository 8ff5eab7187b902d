"""What a trial stores, written and read in one place; how a trial ended, and what that is in each store."""

import enum
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

import optuna
import yaml
from optuna.storages import JournalStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState


class Outcome(enum.Enum):
    """How a trial (or a study run) ended: its Optuna state, its MLflow run status, and why, where it says."""

    COMPLETE = (TrialState.COMPLETE, "FINISHED", None)
    PRUNED = (TrialState.PRUNED, "FINISHED", None)  # pruning, and a rejection before training, are normal ends
    FAILED = (TrialState.FAIL, "FAILED", None)
    INTERRUPTED = (TrialState.FAIL, "KILLED", "interrupted")  # Ctrl-C: the trial is queued for a retry
    WORKER_DIED = (TrialState.FAIL, "FAILED", "worker died; trial retried if retries are left")

    def __init__(self, state: TrialState, status: str, reason: str | None) -> None:
        self.state, self.status, self.reason = state, status, reason

    @classmethod
    def of(cls, trial: FrozenTrial) -> "Outcome":
        """A finished trial's outcome, from its state and what its worker recorded."""
        if trial.state != TrialState.FAIL:
            return cls.COMPLETE if trial.state == TrialState.COMPLETE else cls.PRUNED
        if trial.user_attrs.get("interrupted"):
            return cls.INTERRUPTED
        return cls.FAILED if "failed" in trial.user_attrs else cls.WORKER_DIED


@dataclass
class TrialRecord:
    """A trial's results and provenance, kept as Optuna user attributes (so trials.csv shows them).

    metrics: validation and test figures at the tuned threshold (val_f1, test_f1, ..., threshold), and what
    the model costs to serve (tagger.tune.cost: latency_ms, latency_ms_b64, num_params, size_bytes).
    """

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int | None = None
    worker: str | None = None
    run_id: str | None = None
    retry_of: int | None = None
    resumed_from_epoch: int | None = None
    rejected: str | None = None  # why the model was not trained: over a --max-* budget
    interrupted: bool | None = None  # ended by Ctrl-C (or its worker's parent going away)
    failed: str | None = None  # the error that ended it ("TypeError: ...")
    architecture: str | None = None  # what its costs depend on (tagger.tune.cost.architecture), as a hash
    config: str | None = None  # the full resolved fit config (YAML) the trial trained with
    pruned_on: str | None = None  # what it reports to the pruner (objective.PRUNING_MONITOR or FOLD_PRUNING_FIGURE)

    def save(self, trial: optuna.Trial) -> None:
        """Write every field that is set; params are the trial's own."""
        for name, attr in _ATTRS.items():
            if (value := getattr(self, name)) is not None:
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

    @property
    def family(self) -> str:
        return family(yaml.safe_load(self.config or "{}") or {})

    @property
    def network(self) -> str:
        return network(yaml.safe_load(self.config or "{}") or {})


def family(config: dict[str, Any]) -> str:
    """A model's family, from its resolved fit config: ``linear`` for a network solved to its optimum by L-BFGS
    (``hybrid`` when it reads TF-IDF beside a frozen embedding), else its network's class name (CharCNN, NgramNet,
    EncoderNet, a plugin's own). Decided here only, so a new network class is a new family everywhere with no change
    here."""
    model = config.get("model") or {}
    if model.get("solver") == "lbfgs":
        return "hybrid" if (config.get("data") or {}).get("features") == "hybrid" else "linear"
    return str((model.get("net") or {}).get("class_path", "?")).rsplit(".", 1)[-1]


def network(config: dict[str, Any]) -> str:
    """A model's architecture as a user reads it: the network's class, its sizes and the features it reads, e.g.
    ``CharCNN(embedding_dim=8, num_filters=4, filter_sizes=[1, 2, 3], hidden_dim=8) on tokens``."""
    net, data = (config.get("model") or {}).get("net") or {}, config.get("data") or {}
    sizes = [
        f"{key}={json.dumps(value)}"
        for key, value in (net.get("init_args") or {}).items()
        if isinstance(value, int | list) and not isinstance(value, bool) and "dropout" not in key
    ]
    name = str(net.get("class_path", "?")).rsplit(".", 1)[-1]
    return f"{name}({', '.join(sizes)})" + (f" on {data['features']}" if data.get("features") else "")


def pruned_at(trial: FrozenTrial) -> float | None:
    """The pruner's last figure (TrialRecord.pruned_on names it) of a pruned trial: its own, never the objective's."""
    if trial.state != TrialState.PRUNED or trial.last_step is None:
        return None
    return trial.intermediate_values[trial.last_step]


class _NoPrunedValue:
    """A pruned trial is stored without a value. Optuna gives it its last intermediate value (optuna/study/_tell.py,
    for study.tell(state=PRUNED) too), the pruner's figure, which optuna-dashboard then plots as the objective, above
    the best trial's F1; the figure stays among the trial's intermediate values (pruned_at)."""

    def set_trial_state_values(self, trial_id: int, state: TrialState, values=None) -> bool:
        return super().set_trial_state_values(trial_id, state, None if state == TrialState.PRUNED else values)


class Journal(_NoPrunedValue, JournalStorage):
    """Optuna's journal storage, pruned trials without a value."""


class RDB(_NoPrunedValue, RDBStorage):
    """Optuna's database storage, pruned trials without a value."""


# The user attribute each field is stored under: its own name but for run_id (metrics: each under its own name).
_RENAMED = {"run_id": "mlflow_run_id"}
_ATTRS = {f.name: _RENAMED.get(f.name, f.name) for f in fields(TrialRecord) if f.name not in ("params", "metrics")}
