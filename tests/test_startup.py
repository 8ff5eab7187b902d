"""`--help`, `--version` and a missing or unknown subcommand answer before torch, Lightning, scikit-learn, Optuna
or MLflow are imported (they take seconds), in the real `python -m` process; the answers `tagger` and
`tagger.baseline` keep equal what their real parsers print."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

from tagger import baseline, cli
from tagger.commandline import called_as, package_version

HEAVY = ("torch", "lightning", "sklearn", "optuna", "mlflow")
COMMANDS = ["tagger.cli", "tagger.tune", "tagger.predict", "tagger.evaluate", "tagger.baseline"]
FIT_SUBCOMMANDS = ["fit", "validate", "test"]


def imported(stderr: str) -> set[str]:
    """The top-level packages a `python -X importtime` process imported."""
    rows = (line.rpartition("|")[2].strip() for line in stderr.splitlines() if line.startswith("import time:"))
    return {name.split(".")[0] for name in rows}


@pytest.mark.parametrize(
    ("module", "args", "code"),
    [
        *((m, ["--help"], 0) for m in ["tagger.tune", "tagger.predict", "tagger.evaluate", "tagger.baseline"]),
        ("tagger.cli", ["--help"], 0),
        *(("tagger.cli", [sub, "--help"], 0) for sub in FIT_SUBCOMMANDS),
        ("tagger.cli", ["fit", "-h"], 0),
        ("tagger.cli", [], 2),
        ("tagger.cli", ["fitt", "--trainer.max_epochs", "3"], 2),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_help_and_subcommand_errors_import_none_of_the_heavy_libraries(module, args, code):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, done.stderr[-2000:]
    answer = done.stdout if code == 0 else "".join(done.stderr.partition("\nusage: ")[1:]).lstrip()
    assert answer.startswith(f"usage: python -m {module} ")
    assert imported(done.stderr) & set(HEAVY) == set()


@pytest.mark.parametrize(
    "module", ["tagger.cli", "tagger.tune", "tagger.predict", "tagger.evaluate", "tagger.baseline"]
)
def test_every_command_tells_its_version_at_once(module):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, f"python -m {module} {package_version()}\n")
    assert imported(done.stderr) & set(HEAVY) == set()


def test_an_unknown_subcommand_is_named_in_the_kept_error(capsys):
    with pytest.raises(SystemExit) as done:
        cli.KEPT.answer(["fitt"], "tagger")
    assert done.value.code == 2
    assert capsys.readouterr().err.endswith(
        "error: argument subcommand: invalid choice: 'fitt' (choose from 'fit', 'validate', 'test')\n"
    )


def test_the_kept_answers_equal_the_real_parsers():
    """After changing a command's options (or upgrading a library they come from): `make help-copies`. Recorded in
    a fresh process, as a user's command runs (the help lists the subclasses imported so far), in the order and
    the one process that `make help-copies` records them in."""
    code = (
        "import json, sys\nfrom tagger import baseline, cli\n"
        "json.dump([cli.KEPT.record(cli.run), baseline.KEPT.record(baseline.run)], sys.stdout)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    for command, recorded in zip([cli, baseline], json.loads(done.stdout), strict=True):
        kept = json.loads(command.KEPT.path.read_text())
        assert recorded == kept, f"{command.__name__}'s kept answers are stale: run `make help-copies`"


@pytest.mark.parametrize(
    ("argv0", "module", "name"),
    [
        ("/venv/bin/tagger", "tagger.cli", "tagger"),
        ("/venv/bin/tagger-baseline", "tagger.baseline", "tagger-baseline"),
        ("/src/tagger/cli.py", "tagger.cli", "python -m tagger.cli"),
        ("/src/tagger/tune/__main__.py", "tagger.tune", "python -m tagger.tune"),
    ],
)
def test_the_usage_line_names_the_command_as_it_was_called(monkeypatch, argv0, module, name):
    monkeypatch.setattr(sys, "argv", [argv0, "--help"])
    assert called_as(module) == name


@pytest.mark.parametrize(
    ("module", "args", "said"),
    [
        ("tagger.cli", ["fit", "--trainer.max_epochs", "abc"], "--trainer.max_epochs takes Optional[int], not 'abc'"),
        ("tagger.cli", ["fit", "--model.lrr", "3"], "unrecognized option --model.lrr; did you mean --model.lr?"),
        ("tagger.baseline", ["--C=abc"], "--C takes PositiveFloat, not 'abc'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_a_mistyped_option_or_value_is_one_line_before_the_heavy_libraries(module, args, said):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    (line,) = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    sub = " fit" if module == "tagger.cli" else ""
    assert line == f"python -m {module}{sub}: error: {said} (every option: python -m {module}{sub} --help)"
    assert imported(done.stderr) & set(HEAVY) == set()


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["--trainer.max_epochs", "abc"], True),
        (["--trainer.max_epochs=null", "--model.lr", "1e-3"], False),
        (["--trainer.max_epoch", "3"], False),  # argparse takes a unique prefix of an option
        (["--model.lrr", "3"], True),
        (["--data.features", "tokenz"], True),
        (["--data.map_aliases", "maybe"], True),
        (["--data.tfidf.min_df", "2.5"], True),
        (["--config", str(REPO / "configs" / "linear.yaml"), "--model.net.hidden_dim", "8"], False),  # its own
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_what_the_kept_help_refuses_the_real_parser_refuses(capsys, args, refused):
    from tagger.fit_cli import cli_main
    from tagger.option_check import options, refusal

    kept = json.loads(cli.KEPT.path.read_text())["answers"]["tagger"]["fit --help"][1]
    with pytest.raises(SystemExit) as done:
        cli_main(["fit", "--print_config", *args])  # the real parser, which stops after parsing
    capsys.readouterr()
    assert (done.value.code != 0, refusal(args, options(kept)) is not None) == (refused, refused)


def test_a_value_the_check_refuses_jsonargparse_refuses_for_every_type_it_reads():
    from typing import Literal, Optional

    from jsonargparse import ArgumentParser
    from jsonargparse.typing import PositiveFloat, PositiveInt

    from tagger.option_check import _takes

    kinds = {"int": int, "Optional[int]": Optional[int], "float": float, "float | null": Optional[float],  # noqa: UP045
             "bool": bool, "Optional[bool]": Optional[bool], "Literal['a', 'b']": Literal["a", "b"],  # noqa: UP045
             "PositiveInt": PositiveInt, "PositiveFloat": PositiveFloat}  # fmt: skip
    values = ["abc", "3", "3.0", "3.5", "1e3", "1e-3", "0x10", "-2", "null", "None", "true", "yes", "", "[1]", "a"]
    for kind, hint in kinds.items():
        parser = ArgumentParser(exit_on_error=False)
        parser.add_argument("--x", type=hint)
        for value in values:
            try:
                parser.parse_args(["--x", value])
                accepted = True
            except Exception:
                accepted = False
            assert not (accepted and _takes(kind, value) is False), (kind, value)
        assert _takes(kind, "abc") is False
