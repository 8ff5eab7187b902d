"""The seed lesson's character CNN: embedding → same-padded Conv1d per filter size → max over time → MLP."""

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tagger.models.lookup_conv import lookup_conv_max, same_padding

# Up to this vocabulary the look-up tables (vocab x filters per offset) are cheaper than convolving every
# position of a batch: true for characters (~40 symbols), false for a large word vocabulary.
LOOKUP_MAX_VOCAB = 1024


def reference_conv_max(
    tokens: torch.Tensor, embedding: nn.Embedding, convs: Sequence[nn.Conv1d], relu: bool = False
) -> torch.Tensor:
    """Max over time of "same"-padded convolutions of the embedded tokens, concatenated per conv.

    The plain nn.Conv1d computation: the definition that lookup_conv_max reproduces, and the fallback.

    Args:
        tokens: (B, L) token ids, 0 = padding.
        embedding: the token embedding, (vocab, E).
        convs: Conv1d(E, F, f) layers created without padding; "same" padding is applied here.
        relu: apply ReLU to the conv outputs before the max.

    Returns:
        (B, sum of F over convs).
    """
    embedded = embedding(tokens).transpose(1, 2)  # (B, E, L)
    outputs = []
    for conv in convs:
        out = conv(F.pad(embedded, same_padding(conv.kernel_size[0])))  # (B, F, L)
        if relu:
            out = F.relu(out)
        outputs.append(out.amax(-1))  # (B, F)
    return torch.cat(outputs, 1)


class CharCNN(nn.Module):
    """One logit per tag from (B, L) token ids (0 = padding).

    The defaults are the lesson's model. Max-over-time pooling is the seed's only non-linearity;
    ``activation="relu"`` adds one after the convolutions and after the hidden layer. ``impl`` picks how the
    embedding → conv → max block is computed: "reference" (nn.Conv1d), "fast" (exact table look-ups, see
    lookup_conv) or "auto" (fast for vocabularies up to LOOKUP_MAX_VOCAB). Both use the same parameters, so
    checkpoints are interchangeable.
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
        impl: Literal["auto", "fast", "reference"] = "auto",
    ) -> None:
        super().__init__()
        self.relu = activation == "relu"
        self.fast = impl == "fast" or (impl == "auto" and vocab_size <= LOOKUP_MAX_VOCAB)
        # The seed pads every text to at least its largest filter, and the max over time includes the padded
        # positions: the outputs depend on it, so the network pads rather than trusting every caller to.
        self.min_length = max(filter_sizes)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, f) for f in filter_sizes)
        self.fc1 = nn.Linear(num_filters * len(filter_sizes), hidden_dim)
        self.dropout = nn.Dropout(dropout_p)
        self.fc2 = nn.Linear(hidden_dim, num_classes)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) → (B, num_filters * len(filter_sizes)): each filter's maximum over positions."""
        tokens = F.pad(tokens, (0, max(0, self.min_length - tokens.shape[1])))  # (B, max(L, largest filter))
        conv_max = lookup_conv_max if self.fast else reference_conv_max
        return conv_max(tokens, self.embedding, self.convs, relu=self.relu)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(self.features(tokens))  # (B, H)
        if self.relu:
            hidden = F.relu(hidden)
        return self.fc2(self.dropout(hidden))  # (B, C)
