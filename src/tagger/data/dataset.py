"""Reading projects.json and tags.json, checked at the edge, and turning raw tags into labels."""

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

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


class _Record(NamedTuple):
    id: int | str
    title: str
    description: str
    tags: tuple[str, ...]

    def same_project(self, other: "_Record") -> bool:
        return (self.title, self.description, set(self.tags)) == (other.title, other.description, set(other.tags))


def _unique(path: Path, records: list[_Record]) -> list[_Record]:
    """The first record of each id and of each title and description.

    A project read twice could land in train and in test; two different records under one id cannot both be right.
    """
    first: dict[int | str, int] = {}
    conflicts: dict[int | str, tuple[int, int]] = {}  # id -> its first record and the first that differs
    for i, record in enumerate(records):
        j = first.setdefault(record.id, i)
        if j != i and not records[j].same_project(record):
            conflicts.setdefault(record.id, (j, i))
    if conflicts:
        pid, (j, i) = next(iter(conflicts.items()))
        raise TaggerError(
            f"{path}: records {j} and {i} share id {pid!r} but differ ({len(conflicts)} such ids); "
            "keep one record per id, or give each project its own id"
        )
    by_id = [records[i] for i in first.values()]
    texts: dict[tuple[str, str], _Record] = {}
    for record in by_id:
        texts.setdefault((record.title, record.description), record)
    if repeats := len(records) - len(by_id):
        print(f"tagger: dropped {repeats} exact duplicate projects from {path}", file=sys.stderr)
    if renamed := len(by_id) - len(texts):
        print(
            f"tagger: dropped {renamed} projects from {path} that repeat another's title and description "
            "under another id",
            file=sys.stderr,
        )
    return list(texts.values())


def load_projects(path: Path) -> list[Project]:
    """Projects with id, title, description and tags; any other field is ignored. Repeats are dropped with a
    count on stderr, and different records under one id refused (_unique)."""
    records = [
        _Record(
            id=_field(path, i, r, "id", (int, str)),
            title=_field(path, i, r, "title", str),
            description=_field(path, i, r, "description", str),
            tags=_str_list(path, i, r, "tags"),
        )
        for i, r in enumerate(_read_json_list(path))
    ]
    if not records:  # else blamed later on the tag filter, or on the model's tags
        raise TaggerError(f"{path}: holds no projects (an empty list); give a file of projects")
    return [Project(r.id, r.title + " " + r.description, r.tags) for r in _unique(path, records)]


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
