import pytest
import torch

from tagger.models.cnn import CharCNN, reference_conv_max


@pytest.mark.parametrize("activation", ["none", "relu"])
def test_forward_backward_on_a_tiny_model(activation):
    torch.manual_seed(0)
    net = CharCNN(vocab_size=12, num_classes=5, embedding_dim=8, filter_sizes=(1, 2, 3, 4), num_filters=4,
                  hidden_dim=8, activation=activation)  # fmt: skip
    tokens = torch.randint(1, 12, (3, 7))
    tokens[0, 4:] = 0
    logits = net(tokens)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert (net.embedding.weight.grad[0] == 0).all()  # padding never learns


def test_same_padding_keeps_every_position():
    """A length-1 text works with filters up to 10: "same" padding gives one output per position."""
    net = CharCNN(vocab_size=5, num_classes=2, embedding_dim=4, num_filters=3, hidden_dim=4).eval()
    assert net.features(torch.tensor([[3]])).shape == (1, 3 * 10)
    assert net(torch.tensor([[3]])).shape == (1, 2)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_short_texts_are_padded_to_the_largest_filter(impl):
    """The lesson's max over time includes padded positions, so a text shorter than the largest filter must give
    what the seed gave: the result for the text padded with 0 to that filter's size."""
    torch.manual_seed(0)
    net = CharCNN(vocab_size=9, num_classes=3, embedding_dim=4, filter_sizes=(2, 5), num_filters=3, hidden_dim=4,
                  impl=impl, pool_over_padding=True).eval()  # fmt: skip
    short = torch.tensor([[3, 7], [4, 0]])
    padded = torch.tensor([[3, 7, 0, 0, 0], [4, 0, 0, 0, 0]])
    assert torch.equal(net(short), net(padded))
    assert not torch.allclose(net.features(short), reference_conv_max(short, net.embedding, net.convs))  # it matters


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("activation", ["none", "relu"])
def test_a_texts_output_does_not_depend_on_its_batch(impl, activation):
    """Alone, or padded beside a longer text, a text (a short one and an empty one included) gets the same logits
    and gradients; with pool_over_padding (the lesson's) it does not."""
    torch.manual_seed(0)
    kwargs = dict(vocab_size=9, num_classes=3, embedding_dim=4, filter_sizes=(1, 2, 5), num_filters=3, hidden_dim=4,
                  activation=activation, impl=impl, dropout_p=0.0)  # fmt: skip
    net = CharCNN(**kwargs).double()
    texts = [[3, 7], [4, 1, 8, 8, 2, 6], []]
    long_text = torch.randint(1, 9, (1, 40))
    for text in texts:
        alone = torch.tensor([text or [0]])
        beside = torch.cat([torch.nn.functional.pad(alone, (0, 40 - alone.shape[1])), long_text])  # (2, 40)
        out = net(alone)[0]
        (grad,) = torch.autograd.grad(out.sum(), net.convs[2].weight)
        out_beside = net(beside)[0]
        (grad_beside,) = torch.autograd.grad(out_beside.sum(), net.convs[2].weight)
        assert torch.allclose(out, out_beside, rtol=1e-12, atol=1e-12), text
        assert torch.allclose(grad, grad_beside, rtol=1e-12, atol=1e-12), text
    lesson = CharCNN(**kwargs, pool_over_padding=True).double()
    lesson.load_state_dict(net.state_dict())
    others = [torch.randint(1, 9, (1, n)) for n in range(5, 15)]
    batch = torch.cat([torch.nn.functional.pad(t, (0, 40 - t.shape[1])) for t in others] + [long_text])
    alone = torch.cat([lesson(t) for t in others])
    assert not torch.allclose(alone, lesson(batch)[:-1])


def test_defaults_are_the_lessons_model():
    """configs/cnn.yaml relies on these: embedding 128, filter sizes 1..10, 128 filters, hidden 128,
    dropout 0.5, no activation."""
    net = CharCNN(vocab_size=5, num_classes=2)
    assert net.embedding.embedding_dim == 128 and net.embedding.padding_idx == 0
    assert [c.kernel_size[0] for c in net.convs] == list(range(1, 11))
    assert {c.out_channels for c in net.convs} == {128}
    assert (net.fc1.in_features, net.fc1.out_features) == (128 * 10, 128)
    assert net.dropout.p == 0.5 and not net.relu
    assert not net.pool_over_padding  # the one default that is not the lesson's (its outputs depend on the batch)


@pytest.mark.parametrize("activation", ["none", "relu"])
def test_fast_and_reference_networks_agree(activation):
    torch.manual_seed(0)
    kwargs = dict(vocab_size=30, num_classes=4, embedding_dim=16, num_filters=8, hidden_dim=8, activation=activation)
    fast, reference = CharCNN(**kwargs, impl="fast"), CharCNN(**kwargs, impl="reference")
    reference.load_state_dict(fast.state_dict())  # same parameters: checkpoints work with either
    tokens = torch.randint(1, 30, (4, 23))
    tokens[1, 7:] = 0
    fast.eval(), reference.eval()
    assert torch.allclose(fast(tokens), reference(tokens), rtol=1e-4, atol=1e-5)
    assert CharCNN(vocab_size=30, num_classes=2).fast and not CharCNN(vocab_size=50_000, num_classes=2).fast
