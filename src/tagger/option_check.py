"""Mistyped options and values refused from the kept ``--help`` (tagger.commandline), before Lightning loads.

The kept help lists every option with its type, as jsonargparse prints it. An option name that no option starts
with, or a value that its plain type (int, float, bool, a Literal of strings, each optionally null) cannot take,
is refused here in one line. The check only refuses what the real parser refuses too (tests/test_startup.py
compares them); every other argument, and every other type, is left to the real parser.
"""

import difflib
import re
from dataclasses import dataclass

import yaml

ENTRY = re.compile(r"^  (-.*)$")  # an option's first help line (a group's title or its text start otherwise)
TYPE = re.compile(r"\(type: (.*?)(?:, default: .*)?\)$")
OPTIONAL = re.compile(r"^(?:Optional\[(.*)\]|(.*) \| null|Union\[(.*), null\])$")
INTS = {"int", "PositiveInt", "NonNegativeInt"}
FLOATS = {"float", "PositiveFloat", "NonNegativeFloat", "OpenUnitInterval", "ClosedUnitInterval"}


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]  # --config and -c, or --trainer.plugins and --trainer.plugins+
    type: str | None  # as the help prints it, whitespace folded; None for a config file or a flag


def options(help_text: str) -> dict[str, Option]:
    """Every option of a --help text by each of its names."""
    entries: list[list[str]] = []
    for line in help_text.splitlines():
        if ENTRY.match(line):
            entries.append([line.strip()])
        elif line.startswith("   ") and entries and entries[-1]:
            entries[-1].append(line.strip())
        else:
            entries.append([])  # a group's title or a blank line ends the entry before it
    found = {}
    for lines in filter(None, entries):
        head, _, rest = lines[0].partition("  ")
        names = tuple(part.split()[0] for part in head.split(", "))
        typed = TYPE.search(" ".join([rest, *lines[1:]]).strip())
        option = Option(names, typed.group(1) if typed else None)
        found |= {name: option for name in names}
    return found


def _takes(kind: str, value: str) -> bool | None:
    """Whether the real parser can take ``value`` for an option of this type; None when this check cannot tell."""
    optional = OPTIONAL.match(kind)
    kind = next(filter(None, optional.groups())) if optional else kind
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError:
        loaded = value
    if optional and loaded is None:
        return None
    if kind in INTS:
        return isinstance(loaded, int) and not isinstance(loaded, bool)
    if kind in FLOATS:
        try:
            float(value)
        except ValueError:
            return False if not isinstance(loaded, int | float) else None  # YAML reads 0x10 as 16
        return None
    if kind == "bool":
        return isinstance(loaded, bool)
    if literal := re.fullmatch(r"Literal\[('[^']*'(?:, '[^']*')*)\]", kind):
        return value in re.findall(r"'([^']*)'", literal.group(1))
    return None


def refusal(args: list[str], known: dict[str, Option]) -> str | None:
    """Why the real parser would refuse these arguments (the part after a subcommand), or None when this check
    finds nothing. Only ``--name value`` and ``--name=value`` are read; other tokens are skipped."""
    typed_parents = [name + "." for name, option in known.items() if option.type and name.startswith("--")]
    index = 0
    while index < len(args):
        token, index = args[index], index + 1
        if token == "--":
            return None
        if not token.startswith("--"):
            continue
        name, equals, value = token.partition("=")
        if not equals and index < len(args) and not args[index].startswith("--"):
            value, index, equals = args[index], index + 1, "="
        option = known.get(name)
        if option is None:
            abbreviates = any(other.startswith(name) for other in known)
            if not abbreviates and not any(name.startswith(parent) for parent in typed_parents):
                close = difflib.get_close_matches(name, [n for n in known if n.startswith("--")], n=1)
                return f"unrecognized option {name}" + (f"; did you mean {close[0]}?" if close else "")
            continue
        if equals and option.type and _takes(option.type, value) is False:
            return f"{name} takes {option.type}, not {value!r}"
    return None
