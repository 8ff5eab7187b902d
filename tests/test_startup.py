"""`--help` answers before torch, Lightning, scikit-learn, Optuna or MLflow are imported (they take seconds)."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "sklearn", "optuna", "mlflow")


@pytest.mark.parametrize("module", ["tagger.tune", "tagger.predict", "tagger.evaluate"])
def test_help_imports_none_of_the_heavy_libraries(module):
    code = (
        f"import runpy, sys\nsys.argv = [{module!r}, '--help']\n"
        f"try:\n    runpy.run_module({module!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: python -m" in done.stdout and done.stdout.rstrip().endswith("loaded: []")
