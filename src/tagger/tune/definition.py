"""What defines a study (base config, search space, objective, direction): stored with the study when it is
created and compared whenever it is reopened, so trials that are not comparable never mix silently."""

import json
from typing import Any

import optuna

from tagger.errors import TaggerError

DEFINITION_ATTR = "definition"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys to JSON values; "init_args" levels dropped, so both spellings of a key compare equal."""
    flat = {}
    for key, value in config.items():
        dotted = prefix.rstrip(".") if key == "init_args" else f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{dotted}." if dotted else "")
        else:
            flat[dotted] = json.dumps(value, default=str, sort_keys=True)
    return flat


def describe(
    config: dict[str, Any],
    space: dict[str, Any],
    objective: str,
    direction: str | list[str],
    budget: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The definition as plain data. The searched keys are left out of the config: trials vary them. A
    single-objective study's direction is one string, a multi-objective one's a list; a budget is stored
    only when set (so studies from before budgets existed compare equal)."""
    searched = {key.replace(".init_args", "") for key in space}
    return {
        "config": {k: v for k, v in flatten(config).items() if k not in searched and k != "config"},
        "search_space": json.loads(json.dumps(space)),  # as the storage gives it back (tuples become lists)
        "objective": objective,
        "direction": direction,
    } | ({"budget": budget} if budget else {})


def _changes(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    changes = []
    for part in ("objective", "direction", "search_space", "budget"):
        if stored.get(part) != current.get(part):
            changes.append(part.replace("_", " "))
    old, new = stored.get("config", {}), current["config"]
    changes += [
        f"{key} ({old.get(key, '-')} -> {new.get(key, '-')})"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]
    return changes


def check_definition(study: optuna.Study, definition: dict[str, Any], allow_changes: bool) -> None:
    """Store the definition of a new study; refuse to add trials to one that was defined otherwise."""
    wanted = definition["direction"]
    wanted = [wanted] if isinstance(wanted, str) else wanted
    have = [direction.name.lower() for direction in study.directions]
    if have != wanted:
        raise TaggerError(
            f"study {study.study_name!r} exists and is a {'/'.join(have)} study; this run asks for "
            f"{'/'.join(wanted)} ({definition['objective']}): use another --study-name, or the study's --objectives"
        )
    stored = study.user_attrs.get(DEFINITION_ATTR)
    if stored is None:
        study.set_user_attr(DEFINITION_ATTR, definition)
        return
    changes = _changes(stored, definition)
    if changes and not allow_changes:
        shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more" if len(changes) > 6 else "")
        raise TaggerError(
            f"study {study.study_name!r} was run with another definition, so new trials would not be comparable: "
            f"changed {shown}. Start a new study (--study-name NAME), or add --allow-changes to add trials to it "
            "anyway"
        )
