"""Reading projects.json and tags.json, checked at the edge, and turning raw tags into labels."""

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tagger.errors import TaggerError

# Tags too generic to be useful predictions (the seed lesson's list).
GENERIC_TAGS = (
    "machine-learning",
    "deep-learning",
    "data-science",
    "neural-networks",
    "python",
    "r",
    "visualization",
)


@dataclass(frozen=True)
class Project:
    id: int | str
    text: str  # title + " " + description, before cleaning
    tags: tuple[str, ...]


@dataclass(frozen=True)
class TagInfo:
    aliases: tuple[str, ...]
    parents: tuple[str, ...]


def _read_json_list(path: Path) -> list[Any]:
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaggerError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TaggerError(f"{path}: cannot read the file ({err})") from None
    except json.JSONDecodeError as err:
        raise TaggerError(f"{path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    if not isinstance(records, list):
        raise TaggerError(f"{path}: expected a JSON list of records, found {type(records).__name__}")
    return records


def _field(path: Path, index: int, record: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(record, dict):
        raise TaggerError(f"{path}: record {index} is {type(record).__name__}, expected an object")
    if name not in record:
        raise TaggerError(f"{path}: record {index} has no field '{name}'")
    value = record[name]
    if not isinstance(value, kind):
        raise TaggerError(f"{path}: record {index} field '{name}' is {type(value).__name__}, expected {kind}")
    return value


def _str_list(path: Path, index: int, record: Any, name: str) -> tuple[str, ...]:
    values = _field(path, index, record, name, list)
    if not all(isinstance(v, str) for v in values):
        raise TaggerError(f"{path}: record {index} field '{name}' must be a list of strings")
    return tuple(values)


def load_projects(path: Path) -> list[Project]:
    """Projects with id, title, description and tags; any other field is ignored."""
    return [
        Project(
            id=_field(path, i, r, "id", (int, str)),
            text=_field(path, i, r, "title", str) + " " + _field(path, i, r, "description", str),
            tags=_str_list(path, i, r, "tags"),
        )
        for i, r in enumerate(_read_json_list(path))
    ]


def load_tags(path: Path) -> dict[str, TagInfo]:
    """Accepted tags with their aliases and parents."""
    return {
        _field(path, i, r, "tag", str): TagInfo(
            aliases=_str_list(path, i, r, "aliases"), parents=_str_list(path, i, r, "parents")
        )
        for i, r in enumerate(_read_json_list(path))
    }


@dataclass(frozen=True)
class LabelMapping:
    """How raw tags become labels: accepted tags only, aliases/parents optional, generic ones dropped."""

    tags: dict[str, TagInfo]
    exclude: frozenset[str] = frozenset(GENERIC_TAGS)
    map_aliases: bool = False
    add_parents: bool = False

    @cached_property
    def _alias_of(self) -> dict[str, str]:
        if not self.map_aliases:
            return {}
        return {alias: tag for tag, info in self.tags.items() for alias in info.aliases}

    def __call__(self, raw: Iterable[str]) -> list[str]:
        mapped = [self._alias_of.get(t, t) for t in raw]
        if self.add_parents:
            mapped += [p for t in mapped if t in self.tags for p in self.tags[t].parents]
        kept = (t for t in mapped if t in self.tags and t not in self.exclude)
        return list(dict.fromkeys(kept))  # de-duplicated, first occurrence order


def frequent_labels(label_lists: Sequence[Sequence[str]], min_freq: int) -> list[str]:
    """Sorted labels that occur at least min_freq times."""
    counts = Counter(t for labels in label_lists for t in labels)
    return sorted(t for t, n in counts.items() if n >= min_freq)
