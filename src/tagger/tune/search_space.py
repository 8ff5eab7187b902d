"""The search space: YAML mapping dotted config keys to Optuna distributions, checked before any trial.

A categorical may carry ``when``: for some of its choices, the keys searched only when that choice is taken (a
network family's own sizes under its ``model.net`` class path, say). A choice with a single value is a fixed
setting, not a search dimension. The optional ``start`` list holds trials to run first (enqueue_trial).
"""

import json
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from tagger.errors import TaggerError

START = "start"
SHIPPED = r"search_space_(\w+)\.yaml"  # a shipped space's file, in the package's configs/


def _scalar(choice: Any) -> Any:
    """Optuna stores only scalars: lists (e.g. filter sizes) travel as their JSON text."""
    return choice if choice is None or isinstance(choice, bool | int | float | str) else json.dumps(choice)


@dataclass(frozen=True)
class Param:
    """One tunable config key: its Optuna distribution, and for a categorical the keys searched with a choice."""

    distribution: BaseDistribution
    when: dict[Any, dict[str, "Param"]] = field(default_factory=dict)  # a choice (as Optuna stores it) -> keys

    @property
    def fixed(self) -> bool:
        """A single choice: a fixed setting (a family's input features, say), which Optuna never sees."""
        return isinstance(self.distribution, CategoricalDistribution) and len(self.distribution.choices) == 1

    def suggest(self, trial: optuna.Trial, key: str) -> Any:
        d = self.distribution
        if isinstance(d, IntDistribution):
            return trial.suggest_int(key, d.low, d.high, step=d.step, log=d.log)
        if isinstance(d, FloatDistribution):
            return trial.suggest_float(key, d.low, d.high, step=d.step, log=d.log)
        return d.choices[0] if self.fixed else trial.suggest_categorical(key, d.choices)

    def extremes(self) -> list[Any]:
        """Every value a trial can get at the edges: both bounds (as Optuna suggests them), every choice."""
        d = self.distribution
        return list(d.choices) if isinstance(d, CategoricalDistribution) else [d.low, d.high]

    def to_dict(self) -> dict[str, Any]:
        """As a study's definition stores it: plain JSON data."""
        when = {str(c): {k: p.to_dict() for k, p in keys.items()} for c, keys in self.when.items()}
        return {"distribution": optuna.distributions.distribution_to_json(self.distribution)} | (
            {"when": when} if when else {}
        )

    def contains(self, value: Any) -> bool:
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return _scalar(value) in d.choices
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and d.low <= value <= d.high and (isinstance(d, FloatDistribution) or float(value).is_integer())


def _number(where: str, name: str, value: Any) -> float:
    """A number; YAML 1.1 reads exponent forms without a dot (1e-4) as strings, so those are accepted too."""
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise TaggerError(f"{where}: {name} must be a number, got {value!r}") from None


def _parse_param(key: str, spec: Any, path: Path) -> Param:
    where = f"{path}: '{key}'"
    numeric = {"low", "high", "log", "step"}
    kinds = {"int": numeric, "float": numeric, "categorical": {"choices", "when"}}
    if not isinstance(spec, dict) or spec.get("type") not in kinds:
        raise TaggerError(f"{where} needs a mapping with type: int, float or categorical")
    if unknown := set(spec) - kinds[spec["type"]] - {"type"}:
        raise TaggerError(
            f"{where}: a {spec['type']} takes only {', '.join(sorted(kinds[spec['type']]))}, not {sorted(unknown)}"
        )
    if spec["type"] == "categorical":
        choices, when = spec.get("choices"), spec.get("when") or {}
        if not isinstance(choices, list) or not choices:
            raise TaggerError(f"{where} needs a non-empty list of choices")
        if not isinstance(when, dict) or not all(isinstance(v, dict) and v for v in when.values()):
            raise TaggerError(f"{where}: when maps a choice to the keys searched with it")
        forms = [_scalar(c) for c in choices]
        if unknown := [c for c in when if _scalar(c) not in forms]:
            raise TaggerError(f"{where}: when names {unknown}, which are not among its choices")
        branches = {_scalar(c): {k: _parse_param(k, v, path) for k, v in sub.items()} for c, sub in when.items()}
        return Param(CategoricalDistribution(forms), branches)
    low, high = _number(where, "low", spec.get("low")), _number(where, "high", spec.get("high"))
    step = None if spec.get("step") is None else _number(where, "step", spec["step"])
    if not isinstance(log := spec.get("log", False), bool):
        raise TaggerError(f"{where}: log must be true or false, got {log!r}")
    if spec["type"] == "int" and not all(float(v).is_integer() for v in (low, high, 1 if step is None else step)):
        raise TaggerError(f"{where}: int bounds and step must be whole numbers")
    try:  # Optuna's own checks: low <= high, low > 0 on a log scale, step > 0 and not with log
        if spec["type"] == "int":
            return Param(IntDistribution(int(low), int(high), log=log, step=1 if step is None else int(step)))
        return Param(FloatDistribution(low, high, log=log, step=step))
    except ValueError as err:
        raise TaggerError(f"{where}: {err}") from None


def shipped_spaces() -> list[str]:
    """The names of the spaces shipped in the package: configs/search_space_<name>.yaml."""
    found = (re.fullmatch(SHIPPED, path.name) for path in (files("tagger") / "configs").iterdir())
    return sorted(match[1] for match in found if match)


def resolve(name_or_path: str | Path) -> Path:
    """A shipped space by name (``seed`` is configs/search_space_seed.yaml), else the file given."""
    shipped = files("tagger") / "configs" / f"search_space_{name_or_path}.yaml"
    if "/" not in str(name_or_path) and "." not in str(name_or_path) and shipped.is_file():
        return Path(str(shipped))
    return Path(name_or_path)


def _read(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        names = ", ".join(shipped_spaces())
        raise TaggerError(
            f"search space {path} not found; pass --search-space FILE, or a shipped space: {names}"
        ) from None
    except yaml.YAMLError as err:
        raise TaggerError(f"search space {path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict) or not set(raw) - {START}:
        raise TaggerError(f"search space {path} must map config keys (e.g. model.lr) to distributions")
    return raw


def load_search_space(path: str | Path) -> dict[str, Param]:
    path = resolve(path)
    space = {key: _parse_param(key, spec, path) for key, spec in _read(path).items() if key != START}
    _check_shared_keys(space, path, {})
    return space


def load_start_points(path: str | Path) -> list[dict[str, Any]]:
    """The space's ``start`` trials: mappings of searched keys (a choice's own keys with it) to values inside
    their distributions, as Optuna stores them (lists as JSON text)."""
    path = resolve(path)
    starts, space = _read(path).get(START, []), load_search_space(path)
    if not isinstance(starts, list) or not all(isinstance(point, dict) and point for point in starts):
        raise TaggerError(f"search space {path}: start must be a list of mappings of searched keys to values")
    points = []
    for number, point in enumerate(starts):
        point = {key: _scalar(value) for key, value in point.items()}
        if unused := set(point) - _check_point(point, space, f"search space {path}: start {number}"):
            raise TaggerError(
                f"search space {path}: start {number} sets {sorted(unused)}, not searched with its other values"
            )
        points.append(point)
    return points


def _check_point(point: dict[str, Any], space: dict[str, Param], where: str) -> set[str]:
    """The keys of ``point`` that ``space`` searches (following its choices); a value out of range is refused."""
    used = set()
    for key, param in space.items():
        if key not in point:
            continue
        if not param.contains(point[key]):
            raise TaggerError(f"{where} sets '{key}' to {point[key]!r}, outside its distribution")
        used |= {key} | _check_point(point, param.when.get(point[key], {}), where)
    return used


def _check_shared_keys(space: dict[str, Param], path: Path, seen: dict[str, Param]) -> None:
    """A key searched under several choices must have one kind of distribution: Optuna refuses a study whose
    trials suggest it as int and float, with and without log, or from two lists of choices."""
    for key, param in space.items():
        if not param.fixed and key in seen:
            try:
                optuna.distributions.check_distribution_compatibility(seen[key].distribution, param.distribution)
            except ValueError as err:
                raise TaggerError(
                    f"search space {path}: '{key}' is searched in several places with distributions one study "
                    f"cannot hold ({err}); give it the same type, log setting and choices everywhere"
                ) from None
        elif not param.fixed:
            seen[key] = param
        for branch in param.when.values():
            _check_shared_keys(branch, path, seen)


def searched_keys(space: dict[str, Param]) -> set[str]:
    """Every key a trial may set, under any choice: what a study's fixed settings leave out."""
    return set(space) | {key for param in space.values() for keys in param.when.values() for key in searched_keys(keys)}


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
    """Define-by-run: a choice's own keys are suggested only when it is taken, right after it (so a class path
    comes before its arguments on the command line)."""
    params = {}
    for key, param in space.items():
        params[key] = param.suggest(trial, key)
        params |= suggest(trial, param.when.get(params[key], {}))
    return params


def trial_params(space: dict[str, Param], params: dict[str, Any]) -> dict[str, Any]:
    """What ``suggest`` gave a trial, from the params Optuna stored: with its fixed settings, in suggest's order."""
    values = {}
    for key, param in space.items():
        values[key] = param.distribution.choices[0] if param.fixed else params[key]
        values |= trial_params(param.when.get(values[key], {}), params)
    return values


def to_cli_args(params: dict[str, Any]) -> list[str]:
    """Dotted overrides for LightningCLI; strings pass as they are (JSON lists parse as lists there)."""
    return [f"--{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items()]


def example_values(space: dict[str, Param], path: dict[str, Any] | None = None, top: bool = True) -> dict[str, Any]:
    """One valid value per key, in the space's order (a choice's own keys follow it, the taken choice's only):
    each key's first extreme. With ``path`` (the choices leading to one key's value, and that value), the keys
    on it take its values, a branch entered on it fills its other keys with first extremes (a choice never
    builds without its own keys), and top-level keys off the path keep the config's own value."""
    values = {}
    for key, param in space.items():
        if path is not None and top and key not in path:
            continue
        values[key] = path[key] if path is not None and key in path else param.extremes()[0]
        values |= example_values(param.when.get(_scalar(values[key]), {}), path, top=False)
    return values


def edge_values(space: dict[str, Param]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(key, value, params) for every extreme of every key, what the pre-flight builds one at a time: the other
    keys at example values of the same branch. Each distinct params once."""

    def paths(space: dict[str, Param], path: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
        found = []
        for key, param in space.items():
            for value in param.extremes():
                here = path | {key: value}
                found += [(key, value, here), *paths(param.when.get(_scalar(value), {}), here)]
        return found

    edges, seen = [], set()
    for key, value, path in paths(space, {}):
        params = example_values(space, path)
        if (text := json.dumps(params, sort_keys=True)) not in seen:
            seen.add(text)
            edges.append((key, value, params))
    return edges
