"""The console scripts the package installs answer --help, and the quality benchmark without data ends in one
line."""

import runpy
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
from conftest import REPO

from tagger.data import download

SCRIPTS = ["tagger", "tagger-tune", "tagger-predict", "tagger-evaluate", "tagger-baseline"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_console_script_answers_help(name):
    script = Path(sys.executable).parent / name
    if not script.exists():
        pytest.fail(f"{script} is not installed; reinstall the package: pip install -e . --no-deps")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr


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
