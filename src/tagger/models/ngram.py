"""A network on TF-IDF word and character n-grams (``--data.features tfidf``): linear, or one hidden layer.

The linear form is the baseline's logistic regression trained by the module: with the "balanced" loss
weighting and weight decay it optimises the same kind of objective, so it reaches the baseline through the
commands, threshold and artifact every network shares; the hidden layer lets a study try more.
"""

from typing import ClassVar

import torch
from torch import nn


class NgramNet(nn.Module):
    """(B, F) TF-IDF rows → dropout → [Linear → ReLU → dropout] → Linear → (B, C) logits.

    Args:
        vocab_size: number of TF-IDF columns (the DataModule's input size).
        num_classes: number of tags.
        hidden_dim: 0 for a linear model, else the width of one hidden layer.
        dropout_p: dropout on the input rows (and the hidden layer).
    """

    data_features: ClassVar[str] = "tfidf"  # the --data.features this network reads

    def __init__(self, vocab_size: int, num_classes: int, hidden_dim: int = 0, dropout_p: float = 0.0) -> None:
        super().__init__()
        if hidden_dim < 0 or not 0.0 <= dropout_p < 1.0:
            raise ValueError(f"hidden_dim must be >= 0 and dropout_p in [0, 1), got {hidden_dim} and {dropout_p}")
        layers: list[nn.Module] = [nn.Dropout(dropout_p)]
        if hidden_dim:
            layers += [nn.Linear(vocab_size, hidden_dim), nn.ReLU(), nn.Dropout(dropout_p)]
        layers.append(nn.Linear(hidden_dim or vocab_size, num_classes))
        self.layers = nn.Sequential(*layers)
        if not hidden_dim:  # a linear model starts where logistic regression's solver starts
            nn.init.zeros_(self.layers[-1].weight)
            nn.init.zeros_(self.layers[-1].bias)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.layers(rows)
