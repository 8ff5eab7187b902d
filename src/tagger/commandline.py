"""What the console commands share before their heavy imports: the name a command was called by (its usage
line), ``--version`` from the installed package, and answers kept from the real parsers.

`tagger fit` and `tagger.baseline` build their parsers from Lightning's and the DataModule's classes, which
takes seconds of imports. Their ``--help`` and their missing or unknown subcommand errors are recorded from the
real parsers into ``tagger/help/<command>.json`` (``make help-copies`` writes them again; tests/test_startup.py
checks that they still equal what the real parsers print), and answered from there while the libraries that
shaped them are the ones installed. A mistyped option name or plain value is refused from the kept help too
(tagger.option_check); anything else goes to the real parser.
"""

import contextlib
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path

HELP_WIDTH = 100  # the real parsers' width whatever the terminal (tagger.help_formatter): the copies equal them
SHAPED_BY = ("jsonargparse", "lightning", "torch")  # the libraries whose classes and formatter shape the texts
UNKNOWN = "UNKNOWN-SUBCOMMAND"  # stands for the word given in the kept "invalid choice" error
HELP = ("-h", "--help")

Run = Callable[[list[str], str], None]  # the real command: argv and the program name for its usage line


def package_version() -> str:
    try:
        return version("tagger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def version_text() -> str:
    """argparse's version action text: the same for the real parsers and the kept answers."""
    return f"%(prog)s {package_version()}"


def called_as(module: str) -> str:
    """The name a user typed: ``python -m tagger.X`` when the module (or a package's __main__) ran as the script,
    else the script's name (``tagger``, ``tagger-baseline``)."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else module
    ran = Path(program).with_suffix("").parts
    ran = ran[:-1] if ran[-1:] == ("__main__",) else ran
    names = tuple(module.split("."))
    if program.endswith(".py") and ran[-len(names) :] == names:
        return f"python -m {module}"
    return Path(program).name


def _shaped_by() -> dict[str, str]:
    found = {"python": ".".join(map(str, sys.version_info[:2]))}
    for name in SHAPED_BY:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found


@dataclass(frozen=True)
class KeptAnswers:
    """The real parser's answers to a help request or a missing/unknown subcommand, per program name."""

    command: str  # tagger.cli
    programs: tuple[str, ...]  # the names it is kept for: its console script and `python -m`
    subcommands: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return Path(str(files("tagger") / "help" / f"{self.command}.json"))

    def requests(self) -> list[list[str]]:
        """Every argv whose answer is kept."""
        asked = [["--help"], *([s, "--help"] for s in self.subcommands)]
        return asked + ([[], [UNKNOWN]] if self.subcommands else [])

    def key(self, argv: list[str]) -> str | None:
        """The kept request that argv is, or None."""
        if argv == ["--help"] or argv == ["-h"]:
            return "--help"
        if len(argv) == 2 and argv[0] in self.subcommands and argv[1] in HELP:
            return f"{argv[0]} --help"
        if self.subcommands and not argv:
            return ""
        if self.subcommands and argv[0] not in self.subcommands and not argv[0].startswith("-"):
            return UNKNOWN  # argparse's subparsers refuse the first positional before reading anything else
        return None

    def answer(self, argv: list[str], program: str) -> None:
        """Print the kept answer and exit, when there is one for argv, this program name and these libraries; else
        refuse a mistyped option or value from the kept help (tagger.option_check)."""
        if argv == ["--version"]:
            sys.exit(print(version_text() % {"prog": program}))
        kept, key = self._kept(program), self.key(argv)
        if kept is None:
            return
        if key is None:
            self._refuse(argv, program, kept)
            return
        if key not in kept:
            return
        code, out, err = kept[key]
        if key == UNKNOWN:
            err = err.replace(repr(UNKNOWN), repr(argv[0]))
        sys.stdout.write(out)
        sys.stderr.write(err)
        sys.exit(code)

    def _kept(self, program: str) -> dict[str, list] | None:
        """The kept answers for this program name, if these libraries shaped them."""
        try:
            kept = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return kept["answers"].get(program) if kept.get("shaped_by") == _shaped_by() else None

    def _refuse(self, argv: list[str], program: str, kept: dict[str, list]) -> None:
        """Exit with status 2 and one line, as argparse does, on an option or value the real parser refuses."""
        from tagger.option_check import options, refusal

        sub = next((word for word in argv if word in self.subcommands), None)
        if self.subcommands and sub is None:
            return
        name, asked = (f"{program} {sub}", f"{sub} --help") if sub else (program, "--help")
        if asked in kept and (reason := refusal(argv[argv.index(sub) + 1 :] if sub else argv, options(kept[asked][1]))):
            print(f"{name}: error: {reason} (every option: {name} --help)", file=sys.stderr)
            sys.exit(2)

    def record(self, run: Run) -> dict:
        """What the real parser prints for every request, run in this process."""
        answers = {program: {" ".join(argv): _capture(run, argv, program) for argv in self.requests()}
                   for program in self.programs}  # fmt: skip
        return {"shaped_by": _shaped_by(), "answers": answers}

    def write(self, run: Run) -> None:
        """Record the answers again (`make help-copies`, after changing the command's options)."""
        self.path.write_text(json.dumps(self.record(run), indent=1, ensure_ascii=False) + "\n")


def _capture(run: Run, argv: list[str], program: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(argv, program)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    return code, out.getvalue(), err.getvalue()
