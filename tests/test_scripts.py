"""The console scripts the package installs answer --help and --version, the quality benchmark without data ends
in one line, and the Makefile's help and clean."""

import re
import runpy
import subprocess
import sys
import urllib.error
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import REPO

from tagger.data import download

SCRIPTS = ["tagger", "tagger-tune", "tagger-predict", "tagger-evaluate", "tagger-baseline"]


@pytest.mark.integration  # a process of its own
def test_each_console_script_answers_help():
    """Each usage line and --version names the script as it was called, not `python -m tagger.X`."""
    scripts = [Path(sys.executable).parent / name for name in SCRIPTS]
    if missing := [str(s) for s in scripts if not s.exists()]:
        pytest.fail(f"{missing} not installed; reinstall the package: pip install -e . --no-deps")
    running = {s.name: subprocess.Popen([str(s), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for s in scripts}  # fmt: skip
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and out.startswith(f"usage: {name} "), (name, err)
    for script in scripts:
        done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"{script.name} {version('tagger')}\n"), done.stderr


def test_the_quality_benchmark_without_data_ends_in_one_line(tmp_path, monkeypatch):
    """Its data folder follows $TAGGER_DATA_DIR; an empty one, offline: the download's message, no traceback."""

    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    monkeypatch.setattr(sys, "argv", ["quality.py", "--threads", "1"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "quality.py"), run_name="__main__")
    message = str(done.value)
    assert message.startswith(f"tagger: error: {tmp_path / 'empty' / 'projects.json'} is missing and could not be")
    assert "\n" not in message


def test_a_crashing_nested_fold_ends_the_benchmark_in_one_line_and_a_failing_status(data_dir, monkeypatch):
    """Not a missing last line: exit status 1 and the fold, the error type and its message on one line."""
    from tagger import nested

    def crash(fold, options, base_args):
        raise ImportError("cannot import name 'best_config' from 'tagger.tune.report'")

    monkeypatch.setattr(nested, "score_fold", crash)
    argv = ["quality.py", "--nested", "--data-dir", str(data_dir), "--outer", "2", "--threads", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "quality.py"), run_name="__main__")
    message = str(done.value)  # what sys.exit prints on stderr, with exit status 1
    assert re.fullmatch(
        r"tagger: error: nested: outer fold 0 crashed after \d+\.\d min \(ImportError: cannot import name "
        r"'best_config' from 'tagger\.tune\.report'\); no nested lift",
        message,
    )


def test_nested_folds_runs_only_the_named_outer_folds_of_the_same_cut(data_dir, monkeypatch, capsys):
    """--folds lets outer folds run in parallel processes: each scores its own folds of the one cut."""
    from tagger import nested

    scored = []

    def fake(fold, options, base_args):
        scored.append((fold.number, fold.held_out.read_text()))
        return nested.FoldResult(fold.number, 10, 0.5, 0.6, 0.55, "trial 0 (linear)", 1.0)

    monkeypatch.setattr(nested, "score_fold", fake)
    argv = ["quality.py", "--nested", "--data-dir", str(data_dir), "--outer", "3", "--folds", "1", "--threads", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(REPO / "benchmarks" / "quality.py"), run_name="__main__")
    assert [number for number, _ in scored] == [1]
    assert capsys.readouterr().out.splitlines()[-1] == "nested lift=+0.1000 sd=0.0000 wins=1/1"
    monkeypatch.setattr(sys, "argv", [*argv[:-4], "--threads", "1"])  # all folds: fold 1 is the same projects
    runpy.run_path(str(REPO / "benchmarks" / "quality.py"), run_name="__main__")
    assert [number for number, _ in scored] == [1, 0, 1, 2] and scored[0] == scored[2]
    beyond = [*argv[:-3], "4"]  # fold 4 of 3
    monkeypatch.setattr(sys, "argv", beyond)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "benchmarks" / "quality.py"), run_name="__main__")
    assert done.value.code == 2 and "--folds 4: the outer folds are 0 to 2 (--outer)" in capsys.readouterr().err


def test_make_help_aligns_every_description():
    done = subprocess.run(["make", "-s", "-C", str(REPO), "help"], capture_output=True, text=True, check=True)
    starts = {re.match(r"  \S+ +", line).end() for line in done.stdout.splitlines()}
    assert len(starts) == 1, done.stdout


def test_make_clean_removes_what_the_commands_write_by_default():
    """fit's lightning_logs, tune's studies, optuna.journal, mlflow.db and mlruns, the baseline's baselines/; all
    git-ignored, so clean removes nothing of the repository's."""
    done = subprocess.run(["make", "-n", "-C", str(REPO), "clean"], capture_output=True, text=True, check=True)
    (command,) = [line for line in done.stdout.splitlines() if line.startswith("rm ")]
    removed = set(command.split()[2:])
    default = {"lightning_logs", "studies", "optuna.journal", "optuna.journal.lock", "mlflow.db", "mlruns", "baselines"}
    assert removed == default
    paths = [name if "." in name else f"{name}/" for name in sorted(removed)]  # the folders as folders
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", *paths], capture_output=True, text=True)
    assert ignored.stdout.split() == paths
