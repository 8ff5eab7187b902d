"""A network on TF-IDF word and character n-grams (``--data.features tfidf``): linear, or one hidden layer.

The linear form is the baseline's logistic regression: trained to its optimum by the module's L-BFGS solver
(``model.solver: lbfgs``, configs/linear.yaml) it is that model, reached through the commands, threshold and
artifact every network shares; the hidden layer lets a study try more.

TF-IDF rows arrive as a sparse CSR batch (a few hundred non-zeros among tens of thousands of columns), and
the first layer multiplies them as they are.
"""

import weakref
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


def _transposed(rows: torch.Tensor) -> torch.Tensor:
    """rows.T as CSR, cached for the last rows seen: full-batch L-BFGS evaluates the same batch many times, and
    transposing it costs several times the product itself."""
    cached = _transposed.last
    if cached is not None and cached[0]() is rows:
        return cached[1]
    transposed = rows.t().to_sparse_csr()
    _transposed.last = (weakref.ref(rows), transposed)
    return transposed


_transposed.last = None


class _RowsTimesMatrix(torch.autograd.Function):
    """(B, F) sparse rows @ (F, H) dense, with the gradient of the dense side only (the rows are data)."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        ctx.rows = rows
        return rows @ matrix

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, _transposed(ctx.rows) @ grad


def linear(rows: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(rows)`` for dense or sparse CSR rows."""
    if rows.layout == torch.strided:
        return layer(rows)
    return _RowsTimesMatrix.apply(rows, layer.weight.t()) + layer.bias


def dropout(rows: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of dense or sparse CSR rows (on the stored values: the zeros stay zero either way)."""
    if rows.layout == torch.strided or not (training and p):
        return F.dropout(rows, p, training) if rows.layout == torch.strided else rows
    values = F.dropout(rows.values(), p, training)
    return torch.sparse_csr_tensor(rows.crow_indices(), rows.col_indices(), values, rows.shape)


class NgramNet(nn.Module):
    """(B, F) TF-IDF rows → dropout → Linear → [ReLU → dropout → Linear] → (B, C) logits.

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
        layers: list[nn.Module] = [nn.Dropout(dropout_p), nn.Linear(vocab_size, hidden_dim or num_classes)]
        if hidden_dim:
            layers += [nn.ReLU(), nn.Dropout(dropout_p), nn.Linear(hidden_dim, num_classes)]
        self.layers = nn.Sequential(*layers)
        if not hidden_dim:  # a linear model starts where logistic regression's solver starts
            nn.init.zeros_(self.layers[1].weight)
            nn.init.zeros_(self.layers[1].bias)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        first = self.layers[1]  # the input dropout and this layer take sparse rows as they are
        hidden = linear(dropout(rows, self.layers[0].p, self.training), first)  # (B, H or C)
        return self.layers[2:](hidden)
