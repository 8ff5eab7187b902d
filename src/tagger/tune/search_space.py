"""The search space: YAML mapping dotted config keys to Optuna distributions, checked before any trial."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml

from tagger.errors import TaggerError


@dataclass(frozen=True)
class Param:
    """One tunable config key: int/float ranges (optionally log scale, stepped) or categorical choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial, key: str) -> Any:
        if self.type == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.type == "float":
            return trial.suggest_float(key, self.low, self.high, step=self.step, log=self.log)
        # Optuna stores only scalars: lists (e.g. filter sizes) travel as their JSON text.
        choices = [c if c is None or isinstance(c, bool | int | float | str) else json.dumps(c) for c in self.choices]
        return trial.suggest_categorical(key, choices)


def _parse_param(key: str, spec: Any, path: Path) -> Param:
    where = f"{path}: '{key}'"
    if not isinstance(spec, dict) or spec.get("type") not in ("int", "float", "categorical"):
        raise TaggerError(f"{where} needs a mapping with type: int, float or categorical")
    unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
    if unknown:
        raise TaggerError(f"{where} has unknown fields {sorted(unknown)}")
    if spec["type"] == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise TaggerError(f"{where} needs a non-empty list of choices")
        return Param("categorical", choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)) or low >= high:
        raise TaggerError(f"{where} needs numbers low < high, got low={low!r} high={high!r}")
    if spec.get("log") and low <= 0:
        raise TaggerError(f"{where}: a log scale needs low > 0")
    if spec["type"] == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise TaggerError(f"{where}: int bounds must be whole numbers")
    return Param(spec["type"], float(low), float(high), bool(spec.get("log", False)), spec.get("step"))


def load_search_space(path: str | Path) -> dict[str, Param]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TaggerError(f"search space {path} not found; pass --search-space FILE") from None
    except yaml.YAMLError as err:
        raise TaggerError(f"search space {path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict) or not raw:
        raise TaggerError(f"search space {path} must map config keys (e.g. model.lr) to distributions")
    return {key: _parse_param(key, spec, path) for key, spec in raw.items()}


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
    return {key: param.suggest(trial, key) for key, param in space.items()}


def to_cli_args(params: dict[str, Any]) -> list[str]:
    """Dotted overrides for LightningCLI; strings pass as they are (JSON lists parse as lists there)."""
    return [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items()]


def example_values(space: dict[str, Param]) -> dict[str, Any]:
    """One valid value per key, to check every key against the config before any trial runs."""
    return {
        k: p.choices[0] if p.type == "categorical" else (int(p.low) if p.type == "int" else p.low)
        for k, p in space.items()
    }
