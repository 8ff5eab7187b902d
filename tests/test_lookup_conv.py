"""lookup_conv_max against the nn.Conv1d reference: outputs, gradients, padding, autocast; the max over all
positions (the lesson's) and over each text's own (given lengths)."""

from collections.abc import Sequence

import pytest
import torch
from torch import Tensor, nn

from tagger.models import lookup_conv
from tagger.models.cnn import reference_conv_max
from tagger.models.lookup_conv import lookup_conv_max

VOCAB, EMBED, FILTERS = 11, 8, 5
SIZES = [(1,), (2,), (3,), (2, 4), (7, 3, 4), tuple(range(1, 11))]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _layers(
    sizes: Sequence[int], dtype: torch.dtype, seed: int = 0, device: str = "cpu"
) -> tuple[nn.Embedding, list[nn.Conv1d]]:
    torch.manual_seed(seed)
    embedding = nn.Embedding(VOCAB, EMBED, padding_idx=0)
    # Different filter counts per conv catch column mix-ups in the concatenation.
    convs = [nn.Conv1d(EMBED, FILTERS + i, size) for i, size in enumerate(sizes)]
    return embedding.to(device, dtype), [conv.to(device, dtype) for conv in convs]


def _tokens(batch: int, length: int, seed: int = 0, device: str = "cpu") -> Tensor:
    """Random ids with varying true lengths, 0-padded on the right; the last row is all padding."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, VOCAB, (batch, length), generator=gen)
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    lengths[0] = length
    lengths[-1] = 0
    tokens[torch.arange(length) >= lengths.unsqueeze(1)] = 0
    return tokens.to(device)


def _lengths(tokens: Tensor, masked: bool) -> Tensor | None:
    """Each row's length (its non-pad ids, at least 1) when the max is masked; None: the max over all positions."""
    return (tokens != 0).sum(1).clamp(min=1) if masked else None


def _params(embedding: nn.Embedding, convs: Sequence[nn.Conv1d]) -> list[Tensor]:
    return [embedding.weight, *(p for conv in convs for p in (conv.weight, conv.bias))]


def _grad_pairs(
    tokens: Tensor,
    embedding: nn.Embedding,
    convs: Sequence[nn.Conv1d],
    params: list[Tensor],
    relu: bool = False,
    lengths: Tensor | None = None,
) -> list[tuple[Tensor, Tensor]]:
    """(lookup, reference) gradients of params for one random upstream gradient."""
    expected = reference_conv_max(tokens, embedding, convs, relu, lengths)
    upstream = torch.randn_like(expected)
    grads_expected = torch.autograd.grad(expected, params, upstream)
    grads = torch.autograd.grad(lookup_conv_max(tokens, embedding, convs, relu, lengths), params, upstream)
    return list(zip(grads, grads_expected, strict=True))


def _rel_err(actual: Tensor, expected: Tensor) -> float:
    return ((actual.double() - expected.double()).norm() / expected.double().norm()).item()


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("length", [1, 3, 12])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-5), (torch.float32, 1e-4)])
@pytest.mark.parametrize("masked", [False, True])
def test_output_matches_reference(
    sizes: tuple[int, ...], relu: bool, length: int, dtype: torch.dtype, tol: float, masked: bool
) -> None:
    embedding, convs = _layers(sizes, dtype)
    tokens = _tokens(4, length)
    lengths = _lengths(tokens, masked)
    expected = reference_conv_max(tokens, embedding, convs, relu, lengths)
    actual = lookup_conv_max(tokens, embedding, convs, relu, lengths)
    assert actual.shape == expected.shape == (4, sum(conv.out_channels for conv in convs))
    assert actual.dtype == expected.dtype
    assert _rel_err(actual, expected) < tol


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("length", [1, 3, 12])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_reference(sizes: tuple[int, ...], relu: bool, length: int, masked: bool) -> None:
    # float64 random weights: ties for the max are practically impossible outside all-padding windows,
    # whose ties do not matter (they only reach the bias and the gradient-free padding row).
    embedding, convs = _layers(sizes, torch.float64)
    tokens = _tokens(4, length)
    pairs = _grad_pairs(tokens, embedding, convs, _params(embedding, convs), relu, _lengths(tokens, masked))
    for grad, grad_expected in pairs:
        assert grad.dtype == grad_expected.dtype
        assert _rel_err(grad, grad_expected) < 1e-5
    assert torch.equal(pairs[0][0][0], torch.zeros(EMBED, dtype=torch.float64))


def test_nonzero_padding_row_matches_reference() -> None:
    """The "same" padding reads zeros even when the padding row is not zero, as in F.pad."""
    embedding, convs = _layers((2, 5), torch.float64)
    with torch.no_grad():
        embedding.weight[0].normal_()
    tokens = _tokens(4, 6)
    expected = reference_conv_max(tokens, embedding, convs)
    assert _rel_err(lookup_conv_max(tokens, embedding, convs), expected) < 1e-10
    pairs = _grad_pairs(tokens, embedding, convs, _params(embedding, convs))
    for grad, grad_expected in pairs:
        assert _rel_err(grad, grad_expected) < 1e-10
    assert torch.equal(pairs[0][0][0], torch.zeros(EMBED, dtype=torch.float64))


@pytest.mark.parametrize("conv_max", [lookup_conv_max, reference_conv_max])
def test_masked_max_ignores_how_far_a_row_is_padded(conv_max) -> None:
    """Given lengths, more padding on the right changes neither the outputs nor the gradients; without, it does."""
    embedding, convs = _layers((1, 4, 9), torch.float64)
    tokens = _tokens(4, 6)
    longer = torch.nn.functional.pad(tokens, (0, 9))  # (4, 15): as inside a batch of longer texts
    lengths = _lengths(tokens, masked=True)
    params = _params(embedding, convs)
    upstream = torch.randn(4, sum(conv.out_channels for conv in convs), dtype=torch.float64)
    out, out_longer = (conv_max(t, embedding, convs, True, lengths) for t in (tokens, longer))
    assert torch.allclose(out, out_longer, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(out, params, upstream)
    for grad, grad_longer in zip(grads, torch.autograd.grad(out_longer, params, upstream), strict=True):
        assert torch.allclose(grad, grad_longer, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(conv_max(tokens, embedding, convs), conv_max(longer, embedding, convs))


def test_frozen_embedding_still_trains_convs() -> None:
    embedding, convs = _layers((1, 3), torch.float64)
    embedding.weight.requires_grad_(False)
    tokens = _tokens(3, 7)
    params = [p for conv in convs for p in conv.parameters()]
    for grad, grad_expected in _grad_pairs(tokens, embedding, convs, params):
        assert _rel_err(grad, grad_expected) < 1e-10


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("masked", [False, True])
def test_inference_matches_reference(context: type, masked: bool) -> None:
    embedding, convs = _layers((1, 4, 9), torch.float64)
    tokens = _tokens(5, 8)
    lengths = _lengths(tokens, masked)
    expected = reference_conv_max(tokens, embedding, convs, relu=True, lengths=lengths)
    with context():
        actual = lookup_conv_max(tokens, embedding, convs, relu=True, lengths=lengths)
    assert not actual.requires_grad
    assert _rel_err(actual, expected) < 1e-10


@pytest.mark.parametrize("masked", [False, True])
def test_long_batch_is_processed_in_blocks(monkeypatch: pytest.MonkeyPatch, masked: bool) -> None:
    """Several blocks of samples (and a ragged last one) give the same result as one block."""
    monkeypatch.setitem(lookup_conv._BLOCK_ELEMENTS, "cpu", 2 * 9 * (FILTERS + 1))
    embedding, convs = _layers((2, 3), torch.float64)
    tokens = _tokens(5, 9)
    lengths = _lengths(tokens, masked)
    expected = reference_conv_max(tokens, embedding, convs, lengths=lengths)
    assert _rel_err(lookup_conv_max(tokens, embedding, convs, lengths=lengths), expected) < 1e-10
    for grad, grad_expected in _grad_pairs(tokens, embedding, convs, _params(embedding, convs), lengths=lengths):
        assert _rel_err(grad, grad_expected) < 1e-10


def _check_autocast(device: str, dtype: torch.dtype, masked: bool) -> None:
    embedding, convs = _layers(tuple(range(1, 11)), torch.float32, device=device)
    tokens = _tokens(6, 20, device=device)
    lengths = _lengths(tokens, masked)
    expected = reference_conv_max(tokens, embedding, convs, relu=True, lengths=lengths)
    with torch.autocast(device, dtype=dtype):
        actual = lookup_conv_max(tokens, embedding, convs, relu=True, lengths=lengths)
    assert actual.dtype == dtype
    assert torch.isfinite(actual).all()
    assert _rel_err(actual, expected) < 2e-2
    actual.float().pow(2).sum().backward()
    for param in _params(embedding, convs):
        assert param.grad is not None and param.grad.dtype == torch.float32
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0
    assert torch.equal(embedding.weight.grad[0], torch.zeros(EMBED, device=device))


@pytest.mark.parametrize("masked", [False, True])
def test_bf16_autocast_cpu(masked: bool) -> None:
    _check_autocast("cpu", torch.bfloat16, masked)


def test_bf16_table_gradient_accumulates_in_fp32() -> None:
    """1024 identical samples give exactly 1024 times the gradient of one.

    Summed in bf16, the contributions to a shared table row would stall at 256 (bf16 has 8 bits).
    """
    embedding, convs = _layers((1, 4), torch.float32)
    one = _tokens(2, 12)[:1]

    def grads(tokens: Tensor) -> list[Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = lookup_conv_max(tokens, embedding, convs)
        return torch.autograd.grad(out, _params(embedding, convs), torch.ones_like(out))

    for grad_many, grad_one in zip(grads(one.expand(1024, -1)), grads(one), strict=True):
        assert torch.equal(grad_many, 1024 * grad_one)


@CUDA
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("masked", [False, True])
def test_autocast_cuda(dtype: torch.dtype, masked: bool) -> None:
    _check_autocast("cuda", dtype, masked)


@CUDA
@pytest.mark.parametrize("masked", [False, True])
def test_cuda_matches_reference(masked: bool) -> None:
    embedding, convs = _layers(tuple(range(1, 11)), torch.float64, device="cuda")
    tokens = _tokens(4, 12, device="cuda")
    lengths = _lengths(tokens, masked)
    expected = reference_conv_max(tokens, embedding, convs, relu=True, lengths=lengths)
    assert _rel_err(lookup_conv_max(tokens, embedding, convs, relu=True, lengths=lengths), expected) < 1e-10
    pairs = _grad_pairs(tokens, embedding, convs, _params(embedding, convs), relu=True, lengths=lengths)
    for grad, grad_expected in pairs:
        assert _rel_err(grad, grad_expected) < 1e-10
