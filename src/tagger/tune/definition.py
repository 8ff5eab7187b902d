"""What defines a study (base config, search space, objectives and their directions, budgets): stored with the
study when it is created and compared whenever it is reopened, so trials that are not comparable never mix."""

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
    config: dict[str, Any], space: dict[str, Any], objective: str, budget: dict[str, float] | None = None
) -> dict[str, Any]:
    """The definition as plain data; the searched keys are left out of the config (trials vary them), and a budget
    is stored only when set (so studies from before budgets existed compare equal)."""
    searched = {key.replace(".init_args", "") for key in space}
    return {
        "config": {k: v for k, v in flatten(config).items() if k not in searched and k != "config"},
        "search_space": json.loads(json.dumps(space)),  # as the storage gives it back (tuples become lists)
        "objective": objective,
    } | ({"budget": budget} if budget else {})


def check_definition(
    study: optuna.Study, definition: dict[str, Any], directions: list[str], allow_changes: bool
) -> None:
    """Store the definition of a new study; refuse to add trials to one defined otherwise. The objectives and
    their directions never change, whatever --allow-changes says: a trial's values would mean something else."""
    have = [direction.name.lower() for direction in study.directions]
    stored = study.user_attrs.get(DEFINITION_ATTR)
    if have != directions or (stored and stored["objective"] != definition["objective"]):
        raise TaggerError(
            f"study {study.study_name!r} exists with other objectives ({'/'.join(have)}: "
            f"{stored['objective'] if stored else '?'}); this run asks for {'/'.join(directions)}: "
            f"{definition['objective']}. Use another --study-name, or the study's --objectives and --cv"
        )
    if stored is None:
        study.set_user_attr(DEFINITION_ATTR, definition)
        return
    changes = [
        part.replace("_", " ") for part in ("search_space", "budget") if stored.get(part) != definition.get(part)
    ]
    old, new = stored.get("config", {}), definition["config"]
    changes += [f"{k} ({old.get(k, '-')} -> {new.get(k, '-')})" for k in sorted(old | new) if old.get(k) != new.get(k)]
    if changes and not allow_changes:
        shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more" if len(changes) > 6 else "")
        raise TaggerError(
            f"study {study.study_name!r} was run with another definition, so new trials would not be comparable: "
            f"changed {shown}. Start a new study (--study-name NAME), or add --allow-changes to add trials to it "
            "anyway"
        )
