"""What a trial stores, written and read in one place; the outcomes a trial or a study can end with."""

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tagger.errors import TaggerError
from tagger.tune.objectives import Pick


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
    "rejected": "rejected",
    "architecture": "architecture",
    "config": "config",
}


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
    architecture: str | None = None  # what its costs depend on (tagger.tune.cost.architecture), as a hash
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


def is_multi_objective(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def f1(trial: FrozenTrial) -> float:
    """Validation F1: the objective of every study, and the first of a multi-objective one."""
    return trial.values[0]


def best_trial(study: optuna.Study, pick: Pick | None = None) -> FrozenTrial | None:
    """The complete trial the pick rule chooses: by default the highest validation F1, which is values[0] in
    every study (F1 is the first objective), the cheaper on a tie. None before the first; study.best_trial
    raises on a front."""
    pick = pick or Pick()
    if pick.trial is not None:
        return _numbered(study, pick.trial)
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    admitted = [t for t in completed if pick.admits(t.user_attrs)]
    if completed and not admitted:
        lowest = {m: min(float(t.user_attrs.get(m, math.inf)) for t in completed) for m, _ in pick.budgets}
        shown = ", ".join(f"{metric} {value:g}" for metric, value in lowest.items())
        raise TaggerError(f"no complete trial meets --pick {pick} (the lowest: {shown}); relax the budget")
    return max(admitted, key=_accuracy_then_cost) if admitted else None


def _accuracy_then_cost(trial: FrozenTrial) -> tuple[float, ...]:
    """Highest F1 first; among equal F1 the lower costs (a multi-objective study minimises every value after
    F1), so the pick is on the front, not a trial an equally accurate, cheaper one dominates."""
    return (f1(trial), *(-value for value in trial.values[1:]))


def _numbered(study: optuna.Study, number: int) -> FrozenTrial:
    trials = study.get_trials(deepcopy=False)
    if not 0 <= number < len(trials):
        raise TaggerError(f"--pick trial={number}: the study has trials 0 to {len(trials) - 1}")
    trial = trials[number]
    if trial.state != TrialState.COMPLETE:
        raise TaggerError(f"--pick trial={number}: that trial is {trial.state.name.lower()}; pick a complete one")
    return trial
