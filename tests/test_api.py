"""The Python API: `from tagger import load_model`, without torch on `import tagger`."""

import subprocess
import sys

import pytest

import tagger
from tagger.loading import Tagger


def test_load_model_from_the_package_predicts_as_the_loaded_checkpoint(trained):
    _, best = trained
    model = tagger.load_model(best)
    texts = ["Graph neural networks for node classification", "GANs in TensorFlow"]
    assert model.predict(texts) == Tagger.load(best).predict(texts)
    assert model.predict_proba(texts).shape == (2, len(model.classes))
    with pytest.raises(tagger.TaggerError, match="model file not found"):
        tagger.load_model("missing.ckpt")


def test_importing_the_package_imports_no_torch():
    """(load_model itself, and with it torch, is imported on first use: the test above.)"""
    code = "import sys, tagger\nprint(sorted(m for m in ('torch', 'lightning', 'sklearn') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'fit'"):
        tagger.fit  # noqa: B018
