"""The search space: YAML mapping dotted config keys to Optuna distributions, checked before any trial."""

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml

from tagger.errors import TaggerError


@dataclass(frozen=True)
class Param:
    """One tunable config key: int/float ranges (optionally log scale, stepped) or categorical choices.

    A categorical may carry ``when``: for some of its choices, the keys searched only when that choice is
    taken (a network family's own sizes under its ``model.net`` class path, say).
    """

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, dict[str, "Param"]] = field(default_factory=dict)  # suggested form of a choice -> keys

    @property
    def fixed(self) -> bool:
        """A single choice: a fixed setting (a family's input features, say), not a search dimension."""
        return self.type == "categorical" and len(self.choices) == 1

    def suggest(self, trial: optuna.Trial, key: str) -> Any:
        if self.type == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.type == "float":
            return trial.suggest_float(key, self.low, self.high, step=self.step, log=self.log)
        if self.fixed:  # Optuna never sees it
            return _scalar(self.choices[0])
        return trial.suggest_categorical(key, [_scalar(c) for c in self.choices])

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.type == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), self.log, int(self.step or 1))
        if self.type == "float":
            return optuna.distributions.FloatDistribution(self.low, self.high, self.log, self.step)
        return optuna.distributions.CategoricalDistribution([_scalar(c) for c in self.choices])

    def extremes(self) -> list[Any]:
        """Every value a trial can get at the edges: both bounds (as Optuna would suggest them), every choice."""
        if self.type == "categorical":
            return list(self.choices)
        high = self.high if self.step is None else self.low + (self.high - self.low) // self.step * self.step
        return [int(v) if self.type == "int" else v for v in (self.low, high)]


def _scalar(choice: Any) -> Any:
    """Optuna stores only scalars: lists (e.g. filter sizes) travel as their JSON text."""
    return choice if choice is None or isinstance(choice, bool | int | float | str) else json.dumps(choice)


def _number(where: str, name: str, value: Any) -> float:
    """A number; YAML 1.1 reads exponent forms without a dot (1e-4) as strings, so those are accepted too."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TaggerError(f"{where}: {name} must be a number, got {value!r}")
    return float(value)


def _parse_param(key: str, spec: Any, path: Path) -> Param:
    where = f"{path}: '{key}'"
    if not isinstance(spec, dict) or spec.get("type") not in ("int", "float", "categorical"):
        raise TaggerError(f"{where} needs a mapping with type: int, float or categorical")
    unknown = set(spec) - {"type", "low", "high", "log", "step", "choices", "when"}
    if unknown:
        raise TaggerError(f"{where} has unknown fields {sorted(unknown)}")
    if spec["type"] == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise TaggerError(f"{where} needs a non-empty list of choices")
        if set(spec) - {"type", "choices", "when"}:
            extra = sorted(set(spec) - {"type", "choices", "when"})
            raise TaggerError(f"{where}: a categorical takes only choices and when, not {extra}")
        when = spec.get("when") or {}
        forms = {_scalar(c) for c in choices}
        if not isinstance(when, dict) or not all(isinstance(v, dict) and v for v in when.values()):
            raise TaggerError(f"{where}: when maps a choice to the keys searched with it")
        unknown = [c for c in when if _scalar(c) not in forms]
        if unknown:
            raise TaggerError(f"{where}: when names {unknown}, which are not among its choices")
        branches = {_scalar(c): {k: _parse_param(k, v, path) for k, v in sub.items()} for c, sub in when.items()}
        return Param("categorical", choices=tuple(choices), when=branches)
    low, high = _number(where, "low", spec.get("low")), _number(where, "high", spec.get("high"))
    if low >= high:
        raise TaggerError(f"{where} needs numbers low < high, got low={low:g} high={high:g}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise TaggerError(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise TaggerError(f"{where}: a log scale needs low > 0")
    step = None if spec.get("step") is None else _number(where, "step", spec["step"])
    if step is not None and (step <= 0 or step > high - low):
        raise TaggerError(f"{where}: step must be > 0 and at most high - low, got {step:g}")
    if step is not None and log:
        raise TaggerError(f"{where}: step and log cannot be combined (Optuna samples one or the other)")
    if spec["type"] == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise TaggerError(f"{where}: int bounds and step must be whole numbers")
    return Param(spec["type"], low, high, log, step)


def resolve(name_or_path: str | Path) -> Path:
    """A shipped space by name (``seed`` is configs/search_space_seed.yaml), else the file given."""
    shipped = files("tagger") / "configs" / f"search_space_{name_or_path}.yaml"
    if "/" not in str(name_or_path) and "." not in str(name_or_path) and shipped.is_file():
        return Path(str(shipped))
    return Path(name_or_path)


# The space's optional list of trials to run first (Optuna's enqueue_trial), e.g. each family's shipped
# defaults: the study then never hands over a configuration that validates worse than those.
START = "start"


def _read(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TaggerError(f"search space {path} not found; pass --search-space FILE, or seed (the lesson's)") from None
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
    starts = _read(path).get(START, [])
    space = load_search_space(path)
    if not isinstance(starts, list) or not all(isinstance(point, dict) and point for point in starts):
        raise TaggerError(f"search space {path}: start must be a list of mappings of searched keys to values")
    points = []
    for number, point in enumerate(starts):
        point = {key: _scalar(value) for key, value in point.items()}
        unused = set(point) - _check_point(point, space, f"search space {path}: start {number}")
        if unused:
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
        try:
            inside = param.distribution()._contains(param.distribution().to_internal_repr(point[key]))
        except ValueError:
            inside = False
        if not inside:
            raise TaggerError(f"{where} sets '{key}' to {point[key]!r}, outside its distribution")
        used |= {key} | _check_point(point, param.when.get(point[key], {}), where)
    return used


def _check_shared_keys(space: dict[str, Param], path: Path, seen: dict[str, Param]) -> None:
    """A key searched under several choices must have one kind of distribution: Optuna refuses a study whose
    trials suggest it as int and float, with and without log, or from two lists of choices."""
    for key, param in space.items():
        if not param.fixed and key in seen:
            try:
                optuna.distributions.check_distribution_compatibility(seen[key].distribution(), param.distribution())
            except ValueError as err:
                raise TaggerError(
                    f"search space {path}: '{key}' is searched in several places with distributions one study "
                    f"cannot hold ({err}); give it the same type, log setting and choices everywhere"
                ) from None
        elif not param.fixed:
            seen[key] = param
        for branch in param.when.values():
            _check_shared_keys(branch, path, seen)


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
    """Define-by-run: a choice's own keys are suggested only when it is taken, right after it (so a class
    path comes before its arguments on the command line)."""
    params = {}
    for key, param in space.items():
        params[key] = param.suggest(trial, key)
        params |= suggest(trial, param.when.get(params[key], {}))
    return params


def trial_params(space: dict[str, Param], params: dict[str, Any]) -> dict[str, Any]:
    """What ``suggest`` gave a trial, from the params Optuna stored: with its fixed settings, in suggest's order."""
    values = {}
    for key, param in space.items():
        values[key] = _scalar(param.choices[0]) if param.fixed else params[key]
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


def _paths(space: dict[str, Param], path: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(key, value, the choices that lead to it with it) for every extreme of every key, branches included."""
    paths = []
    for key, param in space.items():
        for value in param.extremes():
            paths.append((key, value, path | {key: value}))
            paths += _paths(param.when.get(_scalar(value), {}), path | {key: value})
    return paths


def edge_values(space: dict[str, Param]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(key, value, params) for every extreme of every key, what the pre-flight builds one at a time: the other
    keys at example values of the same branch (a choice never builds without its own keys). Each distinct
    params once (a fixed setting's only value gives its branch's example again)."""
    edges, seen = [], set()
    for key, value, path in _paths(space, {}):
        params = example_values(space, path)
        if (text := json.dumps(params, sort_keys=True)) not in seen:
            seen.add(text)
            edges.append((key, value, params))
    return edges
