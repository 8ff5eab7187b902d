"""What a study optimises (validation macro F1, alone or against the model's serving costs), the budgets that
reject a model before it trains, and the rule that picks the trial a study hands over.

Plain Python, so the command line checks these options without importing torch or Optuna.
"""

import math
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Objective:
    metric: str  # the trial's recorded figure (a user attribute; trials.csv's user_attrs_<metric>)
    direction: str  # "maximize" or "minimize", as Optuna spells it
    label: str


OBJECTIVES = {
    "f1": Objective("val_f1", "maximize", "validation macro F1"),
    "latency": Objective("latency_ms", "minimize", "CPU latency, ms per text at batch 1"),
    "size": Objective("num_params", "minimize", "parameters"),
}
# Recorded on every trial, whatever the objectives: what a pick rule's budget may name.
COST_METRICS = ("latency_ms", "latency_ms_b64", "num_params", "size_bytes")


def parse_objectives(text: str) -> tuple[str, ...]:
    """ "f1,latency" -> ("f1", "latency"): F1 first, each once."""
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)} (e.g. f1,latency)")
    if names[0] != "f1" or len(set(names)) != len(names):
        raise ValueError(f"{text!r}: list f1 first and each objective once (e.g. f1,latency,size)")
    return names


@dataclass(frozen=True)
class Budget:
    """Limits a model must meet before it trains; a model over one is rejected (recorded, not trained)."""

    max_latency_ms: float | None = None
    max_params: int | None = None

    def limits(self) -> dict[str, float]:
        limits = {"latency_ms": self.max_latency_ms, "num_params": self.max_params}
        return {metric: float(limit) for metric, limit in limits.items() if limit is not None}

    def excess(self, cost: dict[str, float]) -> dict[str, float]:
        """Each limit's cost minus its ceiling: Optuna's constraint values (feasible at 0 or less)."""
        return {metric: cost[metric] - limit for metric, limit in self.limits().items()}


_BUDGET = re.compile(r"^\s*(\w+)\s*<=\s*([0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Pick:
    """Which complete trial a study hands over: ``f1`` (the most accurate), ``latency_ms<=5`` (the most accurate
    within budgets on COST_METRICS, comma-separated) or ``trial=17``."""

    budgets: tuple[tuple[str, float], ...] = ()
    trial: int | None = None

    @classmethod
    def parse(cls, text: str) -> "Pick":
        text = text.strip()
        if text == "f1":
            return cls()
        if text.startswith("trial="):
            number = text.removeprefix("trial=")
            if not number.isdigit():
                raise ValueError(f"{text!r}: give a trial number, e.g. trial=17")
            return cls(trial=int(number))
        budgets = []
        for part in text.split(","):
            match = _BUDGET.match(part)
            if not match or match[1] not in COST_METRICS:
                raise ValueError(
                    f"{part.strip()!r} is not a pick rule; use f1, trial=N, or budgets METRIC<=VALUE with METRIC one "
                    f"of {', '.join(COST_METRICS)} (e.g. latency_ms<=5)"
                )
            try:
                budgets.append((match[1], float(match[2])))
            except ValueError:
                raise ValueError(f"{part.strip()!r}: {match[2]!r} is not a number") from None
        return cls(budgets=tuple(budgets))

    def __str__(self) -> str:
        if self.trial is not None:
            return f"trial={self.trial}"
        return ",".join(f"{metric}<={limit:g}" for metric, limit in self.budgets) or "f1"

    def admits(self, attrs: dict[str, Any]) -> bool:
        """A trial's user attributes meet every budget (a trial that never measured a cost meets none)."""
        return all(float(attrs.get(metric, math.nan)) <= limit for metric, limit in self.budgets)
