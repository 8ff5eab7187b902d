"""The seed lesson's character CNN: embedding → same-padded Conv1d per filter size → max over time → MLP."""

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


class CharCNN(nn.Module):
    """One logit per tag from (B, L) token ids (0 = padding).

    Max-over-time pooling is the seed's only non-linearity; ``activation="relu"`` adds one after the
    convolutions and after the hidden layer.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        filter_sizes: Sequence[int] = tuple(range(1, 11)),
        num_filters: int = 128,
        hidden_dim: int = 128,
        dropout_p: float = 0.5,
        activation: Literal["none", "relu"] = "none",
    ) -> None:
        super().__init__()
        self.relu = activation == "relu"
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, f) for f in filter_sizes)
        self.fc1 = nn.Linear(num_filters * len(filter_sizes), hidden_dim)
        self.dropout = nn.Dropout(dropout_p)
        self.fc2 = nn.Linear(hidden_dim, num_classes)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) → (B, num_filters * len(filter_sizes)): each filter's maximum over positions."""
        x = self.embedding(tokens).transpose(1, 2)  # (B, E, L)
        pooled = []
        for conv in self.convs:
            f = conv.kernel_size[0]
            h = conv(F.pad(x, ((f - 1) // 2, f // 2)))  # "same": (B, F, L)
            pooled.append((F.relu(h) if self.relu else h).amax(-1))
        return torch.cat(pooled, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(self.features(tokens))
        if self.relu:
            hidden = F.relu(hidden)
        return self.fc2(self.dropout(hidden))  # (B, C)
