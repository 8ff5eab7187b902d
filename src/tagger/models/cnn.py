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
    tokens: torch.Tensor,
    embedding: nn.Embedding,
    convs: Sequence[nn.Conv1d],
    relu: bool = False,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Max over time of "same"-padded convolutions of the embedded tokens, concatenated per conv.

    The plain nn.Conv1d computation: the definition that lookup_conv_max reproduces, and the fallback.

    Args:
        tokens: (B, L) token ids, 0 = padding.
        embedding: the token embedding, (vocab, E).
        convs: Conv1d(E, F, f) layers created without padding; "same" padding is applied here.
        relu: apply ReLU to the conv outputs before the max.
        lengths: (B,) positions of each row that the max reads, each at least 1; None: all L.

    Returns:
        (B, sum of F over convs).
    """
    embedded = embedding(tokens).transpose(1, 2)  # (B, E, L)
    past = None if lengths is None else torch.arange(tokens.shape[1], device=tokens.device) >= lengths.unsqueeze(1)
    outputs = []
    for conv in convs:
        out = conv(F.pad(embedded, same_padding(conv.kernel_size[0])))  # (B, F, L)
        if relu:
            out = F.relu(out)
        if past is not None:
            out = out.masked_fill(past.unsqueeze(1), -torch.inf)  # (B, F, L)
        outputs.append(out.amax(-1))  # (B, F)
    return torch.cat(outputs, 1)


class CharCNN(nn.Module):
    """One logit per tag from (B, L) token ids (0 = padding).

    The defaults are the lesson's model. Max-over-time pooling is the seed's only non-linearity;
    ``activation="relu"`` adds one after the convolutions and after the hidden layer. ``impl`` picks how the
    embedding → conv → max block is computed: "reference" (nn.Conv1d), "fast" (exact table look-ups, see
    lookup_conv) or "auto" (fast for vocabularies up to LOOKUP_MAX_VOCAB). Both use the same parameters, so
    checkpoints are interchangeable.

    The max over time reads each text's own positions only (its length: its non-zero ids, padding being on the
    right), so a text's output does not depend on how far its batch pads it. ``pool_over_padding=True`` is the
    lesson's model instead: the max includes the padded positions, and short texts are padded to the largest
    filter first. It exists to reproduce the lesson; its outputs change with the batch, so never serve it.
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
        pool_over_padding: bool = False,
    ) -> None:
        super().__init__()
        self.relu = activation == "relu"
        self.fast = impl == "fast" or (impl == "auto" and vocab_size <= LOOKUP_MAX_VOCAB)
        self.pool_over_padding = pool_over_padding
        # The seed pads every text to at least its largest filter, and its max over time includes the padded
        # positions: its outputs depend on that, so the network pads rather than trusting every caller to.
        self.min_length = max(filter_sizes)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, f) for f in filter_sizes)
        self.fc1 = nn.Linear(num_filters * len(filter_sizes), hidden_dim)
        self.dropout = nn.Dropout(dropout_p)
        self.fc2 = nn.Linear(hidden_dim, num_classes)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) → (B, num_filters * len(filter_sizes)): each filter's maximum over positions."""
        conv_max = lookup_conv_max if self.fast else reference_conv_max
        if self.pool_over_padding:
            tokens = F.pad(tokens, (0, max(0, self.min_length - tokens.shape[1])))  # (B, max(L, largest filter))
            return conv_max(tokens, self.embedding, self.convs, relu=self.relu)
        # An empty text keeps position 0: all padding, the same in every batch.
        lengths = (tokens != 0).sum(1).clamp(min=1)  # (B,)
        return conv_max(tokens, self.embedding, self.convs, relu=self.relu, lengths=lengths)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(self.features(tokens))  # (B, H)
        if self.relu:
            hidden = F.relu(hidden)
        return self.fc2(self.dropout(hidden))  # (B, C)
