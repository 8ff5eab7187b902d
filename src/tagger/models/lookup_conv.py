"""Embedding -> "same" Conv1d -> max over time, computed as table look-ups.

Embedding followed by a convolution is linear in the one-hot input, so for a filter of size f the
conv output at position t is ``bias + sum_k T_k[x[t + k - left]]`` with ``T_k = W[:, :, k] @ E.T``.
With a vocabulary of a few dozen characters the tables are tiny, and the look-up replaces a
(B, L, E) x (E, F * f) convolution by f row reads per output (benchmarks/ has the speed-up).
``tagger.models.cnn.reference_conv_max`` is the plain nn.Conv1d version: the definition.

Given each text's length, positions past it are left out of the max: every block of the table gets one
more row, of -inf, that the first offset of such a position reads instead of its token, so their sums are
-inf. That masks in (B, L) index work rather than a pass over the (B, L, F) sums.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Most conv outputs (samples x positions x filters) materialised at once: bounds memory for long
# texts; on CPU a few-MB block also keeps the sums cache-resident.
_BLOCK_ELEMENTS = {"cpu": 1 << 20}
_DEFAULT_BLOCK_ELEMENTS = 1 << 24


def same_padding(size: int) -> tuple[int, int]:
    """Left/right padding that keeps L outputs (left floor((f-1)/2), right ceil((f-1)/2))."""
    left = (size - 1) // 2
    return left, size - 1 - left


def _window_rows(padded: Tensor, size: int, rows: int, lengths: Tensor | None) -> Tensor:
    """Table row read by each (position, offset): offset k reads block k of the stacked table; at a position
    past its text's length, offset 0 reads the last row of block 0 (-inf) instead."""
    offsets = torch.arange(size, device=padded.device) * rows
    windows = padded.unfold(1, size, 1) + offsets  # (B, L, f)
    if lengths is not None:
        past = torch.arange(windows.shape[1], device=padded.device) >= lengths.unsqueeze(1)  # (B, L)
        windows[..., 0].masked_fill_(past, rows - 1)
    return windows


def _max_over_time(padded: Tensor, table: Tensor, size: int, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
    """max_t of the summed table rows and its position, block by block so the sums stay small."""
    batch, length = padded.shape[0], padded.shape[1] - size + 1
    rows, filters = table.shape[0] // size, table.shape[1]
    windows = _window_rows(padded, size, rows, lengths)  # (B, L, f)
    values = torch.empty(batch, filters, dtype=table.dtype, device=table.device)
    argmax = torch.empty(batch, filters, dtype=torch.long, device=table.device)
    budget = _BLOCK_ELEMENTS.get(table.device.type, _DEFAULT_BLOCK_ELEMENTS)
    block = max(1, budget // (length * filters))
    for start in range(0, batch, block):
        stop = min(start + block, batch)
        # embedding_bag gathers and sums the f rows of each window in one kernel (fp32 accumulation
        # for half types), without an intermediate per offset.
        sums = F.embedding_bag(windows[start:stop].reshape(-1, size), table, mode="sum")
        sums = sums.view(stop - start, length, filters).transpose(1, 2)  # (b, F, L), L strided
        # On CPU, max_pool1d *with* indices reduces this layout vectorised over filters: ~8x faster
        # than sums.max(dim), faster than amax, and ~15x faster than max_pool1d without indices.
        top, arg = F.max_pool1d(sums, length, return_indices=True)  # (b, F, 1)
        values[start:stop], argmax[start:stop] = top.squeeze(-1), arg.squeeze(-1)
    return values, argmax


class _LookupConvMax(torch.autograd.Function):
    """max_t sum_k table[k-th block, padded[t + k]] (t < length); the gradient flows through the argmax only."""

    @staticmethod
    def forward(ctx, padded: Tensor, table: Tensor, size: int, lengths: Tensor | None) -> Tensor:
        values, argmax = _max_over_time(padded, table, size, lengths)
        ctx.save_for_backward(padded, argmax)
        ctx.size, ctx.table_shape, ctx.table_dtype = size, table.shape, table.dtype
        return values

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor, None, None]:
        padded, argmax = ctx.saved_tensors
        size = ctx.size
        table_rows, filters = ctx.table_shape
        batch = argmax.shape[0]
        device = argmax.device
        offsets = torch.arange(size, device=device)
        # Ids under the winning window, all offsets at once.
        positions = (argmax.unsqueeze(-1) + offsets).view(batch, -1)  # (B, F * f)
        ids = torch.gather(padded, 1, positions).view(batch, filters, size)  # (B, F, f)
        rows = ids + offsets * (table_rows // size)  # (B, F, f)
        flat = rows * filters + torch.arange(filters, device=device).unsqueeze(-1)  # (B, F, f)
        # Many samples hit the same (row, filter): accumulate in at least fp32 so bf16 does not
        # round away small contributions.
        acc_dtype = torch.promote_types(ctx.table_dtype, torch.float32)
        grad_table = torch.zeros(table_rows * filters, dtype=acc_dtype, device=device)
        updates = grad.to(acc_dtype).unsqueeze(-1).expand(batch, filters, size)  # (B, F, f)
        grad_table.index_add_(0, flat.reshape(-1), updates.reshape(-1))
        return None, grad_table.view(table_rows, filters).to(ctx.table_dtype), None, None


def _table_embeddings(embedding: nn.Embedding) -> Tensor:
    """Embedding rows plus a zero row that the "same" padding reads.

    The padding row is detached so it gets no gradient, as in nn.Embedding(padding_idx=...).
    """
    weight = embedding.weight
    zero = weight.new_zeros(1, weight.shape[1])
    pad = embedding.padding_idx
    if pad is None:
        return torch.cat([weight, zero])  # (V + 1, E)
    return torch.cat([weight[:pad], weight[pad : pad + 1].detach(), weight[pad + 1 :], zero])


def lookup_conv_max(
    tokens: Tensor,
    embedding: nn.Embedding,
    convs: Sequence[nn.Conv1d],
    relu: bool = False,
    lengths: Tensor | None = None,
) -> Tensor:
    """Same result as ``tagger.models.cnn.reference_conv_max``, computed from per-filter-size look-up tables.

    ``lengths`` (B,), each at least 1, leaves positions past each text's length out of the max, as there.
    Under autocast the tables (and the output) take the autocast dtype; parameter gradients come
    back in the parameter dtype. Where several positions tie for the max, the gradient goes to one of
    them (as in max_pool1d) rather than being split (as in amax).
    """
    weight = _table_embeddings(embedding)  # (V + 1, E)
    sentinel = weight.shape[0] - 1
    outputs = []
    for conv in convs:
        size = conv.kernel_size[0]
        # T[k, v] = W[:, :, k] @ weight[v], stacked over k; autograd carries the table gradient
        # back to the conv weight and the embedding. One explicit mm: torch.matmul(weight, W)
        # picks a 477-way bmm under no_grad (~4x slower), an einsum is ~20% slower with backward.
        filters = conv.out_channels
        kernels = conv.weight.transpose(1, 2).reshape(-1, weight.shape[1])  # (F * f, E)
        products = (kernels @ weight.T).view(filters, size, -1)  # (F, f, V + 1)
        if lengths is not None:  # the -inf row that positions past a text's end read (module docstring)
            products = F.pad(products, (0, 1), value=-torch.inf)  # (F, f, V + 2)
        # Row-major: a column-major table (what reshape alone returns) sends embedding_bag off its
        # fast path, ~20x slower.
        table = products.permute(1, 2, 0).contiguous().view(-1, filters)  # (f * rows, F)
        padded = F.pad(tokens, same_padding(size), value=sentinel)  # (B, L + f - 1)
        # Under no_grad/inference_mode the table does not require grad: no argmax to keep.
        if table.requires_grad:
            values = _LookupConvMax.apply(padded, table, size, lengths)  # (B, F)
        else:
            values = _max_over_time(padded, table, size, lengths)[0]  # (B, F)
        # max_t(s_t + b) = max_t(s_t) + b, and ReLU commutes with max: both go after the max.
        out = values if conv.bias is None else values + conv.bias.to(values.dtype)
        outputs.append(F.relu(out) if relu else out)
    return torch.cat(outputs, 1)
