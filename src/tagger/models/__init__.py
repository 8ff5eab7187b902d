"""Networks: plain nn.Modules, free of training concerns.

The contract: the constructor takes ``vocab_size: int, num_classes: int`` first, then its own typed,
defaulted arguments; forward maps the DataModule's inputs to (B, num_classes) logits. The inputs are
(B, L) token ids (0 = padding), or (B, F) TF-IDF rows for a class that says ``data_features = "tfidf"`` (the
``--data.features`` it needs; the CLI refuses a mismatch). A new architecture is a new file here plus a
config naming it as ``model.net``.
"""

from collections.abc import Callable

from torch import nn

# What TaggerModule takes: the class, with its own arguments bound from the config (jsonargparse fills
# everything after the two sizes); the module calls it with the sizes linked from the data.
Network = Callable[[int, int], nn.Module]


def features_of(net: type) -> str:
    """The DataModule features a network class reads: "tokens" unless it says otherwise."""
    return getattr(net, "data_features", "tokens")
