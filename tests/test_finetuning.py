"""The module's fine-tuning options: AdamW, the warm-up and what follows it, the encoder's own lr."""

import pytest
import torch
from torch import nn

from tagger.errors import TaggerError
from tagger.module import TaggerModule, WarmupThen


class EncoderAndHead(nn.Module):
    """The shape the module looks for: a pretrained ``encoder`` (here half frozen) and the rest, the head."""

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Embedding(vocab_size, 4), nn.LayerNorm(4))
        self.encoder[0].requires_grad_(False)
        self.head = nn.Linear(4, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(tokens).mean(1))


def lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


def test_linear_schedule_warms_up_from_zero_then_decays_to_zero_in_every_group():
    optimizer = torch.optim.SGD([{"params": [nn.Parameter(torch.ones(1))], "lr": lr} for lr in (1e-4, 1e-3)])
    schedule = WarmupThen(optimizer, "linear", warmup=4, total=10)
    seen = [lrs(optimizer)]
    for _ in range(10):
        optimizer.step()
        schedule.step()
        seen.append(lrs(optimizer))
    factors = [0, 0.25, 0.5, 0.75, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0]  # transformers' linear schedule
    assert seen == [pytest.approx([1e-4 * f, 1e-3 * f]) for f in factors]


def test_after_the_warm_up_the_plateau_schedule_s_reductions_last():
    """The per-step warm-up must not undo what ReduceLROnPlateau decided at an epoch's end (LambdaLR would)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1.0)
    warmup = WarmupThen(optimizer, "plateau", warmup=2, total=100)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=0)
    for _ in range(3):
        optimizer.step()
        warmup.step()
    assert lrs(optimizer) == [1.0]
    plateau.step(1.0)
    plateau.step(1.0)  # no improvement: reduced
    for _ in range(5):
        optimizer.step()
        warmup.step()
    assert lrs(optimizer) == [pytest.approx(0.1)]


def test_adamw_trains_the_encoder_at_its_own_lr_and_leaves_frozen_weights_out():
    module = TaggerModule(10, 3, net=EncoderAndHead, solver="adamw", lr=1e-3, encoder_lr=1e-5, weight_decay=0.01)
    [optimizer], _ = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW)
    groups = {(g["lr"], g["weight_decay"]): {id(p) for p in g["params"]} for g in optimizer.param_groups}
    norm, head = module.net.encoder[1], module.net.head
    assert groups == {
        (1e-5, 0.0): {id(norm.weight), id(norm.bias)},  # no decay on norms and biases, as transformers' Trainer
        (1e-3, 0.01): {id(head.weight)},
        (1e-3, 0.0): {id(head.bias)},
    }  # the frozen embedding is in no group


def test_adam_keeps_one_group_and_the_plateau_schedule():
    module = TaggerModule(10, 3, net=EncoderAndHead, lr=1e-3, weight_decay=0.01)
    [optimizer], [plateau] = module.configure_optimizers()
    assert type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["weight_decay"] == 0.01
    assert isinstance(plateau["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert plateau["monitor"] == "val/loss"


def test_bad_fine_tuning_options_are_refused_in_one_line():
    from tagger.models.cnn import CharCNN

    with pytest.raises(TaggerError, match="--model.encoder_lr is the lr of a pretrained encoder"):
        TaggerModule(10, 3, net=CharCNN, encoder_lr=1e-5)
    with pytest.raises(TaggerError, match=r"--model.warmup is a share of the training steps, in \[0, 1\)"):
        TaggerModule(10, 3, net=EncoderAndHead, warmup=5)
