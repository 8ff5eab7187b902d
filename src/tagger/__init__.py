"""tagger: a multi-label char-CNN tagger for ML projects.

The Python API::

    from tagger import load_model

    model = load_model("best.ckpt")  # a checkpoint written by fit, or a baseline .npz
    model.predict(["GANs in TensorFlow"])  # per text: {"text", "tags", "probabilities"}
    model.predict_proba(["GANs in TensorFlow"])  # (N, C) array, columns in the order of model.classes

A file that cannot be loaded raises tagger.TaggerError, whose message names the file and the fix.
"""

from typing import Any

from tagger.errors import TaggerError

__all__ = ["TaggerError", "load_model"]


def __getattr__(name: str) -> Any:
    """load_model on first use: it imports torch, Lightning and scikit-learn, which `import tagger` (and every
    command's --help) should not pay for."""
    if name == "load_model":
        from tagger.loading import load_model

        return load_model
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")
