"""LightningModule: a network plus its loss, optimiser, scheduler, metrics and decision threshold."""

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torchmetrics.classification import MultilabelAveragePrecision, MultilabelF1Score

from tagger.errors import TaggerError
from tagger.metrics import score
from tagger.models import Network
from tagger.models.cnn import CharCNN

# Checkpoint key: False in every checkpoint saved while training, True once ThresholdTuner has tuned it.
# Checkpoints written before the key existed were tuned at the end of fit.
THRESHOLD_TUNED = "threshold_tuned"

# How the loss weighs each (project, tag) term:
#   per_tag:    the seed's class weights, 1 / train count of the tag, on positives and negatives alike;
#   pos_weight: positives of a tag weighted (negatives / positives), negatives 1 (BCEWithLogitsLoss's pos_weight);
#   balanced:   positives 1 / (2 rate), negatives 1 / (2 (1 - rate)), scikit-learn's class_weight="balanced"
#               per tag, which is what the one-vs-rest logistic regression baseline uses;
#   none:       every term 1 (scikit-learn's class_weight=None).
Weighting = Literal["per_tag", "pos_weight", "balanced", "none"]
# adam: minibatches, ReduceLROnPlateau, early stopping on val/loss (any network). adamw: the same with decoupled
# weight decay, kept off biases and norms (what fine-tuning a pretrained transformer expects). lbfgs: the whole train
# split at once, solved to convergence with the L2 penalty of scikit-learn's LogisticRegression(C) (a linear
# model's optimum, reached in one epoch).
Solver = Literal["adam", "adamw", "lbfgs"]
# After the warm-up: plateau: ReduceLROnPlateau on plateau_monitor (lr_factor, lr_patience; per epoch), the lesson's;
# linear: a linear decay to 0 at the last step (per step), transformers' get_linear_schedule_with_warmup.
Schedule = Literal["plateau", "linear"]
# What a network reads: (B, L) token ids, (B, F) TF-IDF rows, or a tokenizer's batch (input_ids, attention_mask).
Inputs = torch.Tensor | Mapping[str, torch.Tensor]
# What ReduceLROnPlateau follows: the lesson's weighted val/loss (minimised), or val/ap (maximised), the figure a
# config that stops and checkpoints on val/ap is judged by; a plateau of the other one would cut the rate while
# it still improves.
PlateauMonitor = Literal["val/loss", "val/ap"]
LBFGS_TOLERANCE_GRAD = 1e-6  # scikit-learn's tol on the largest gradient entry, at which its fit is converged
LBFGS_TOLERANCE_CHANGE = 1e-9  # float32 loss that stops changing: converged as far as float32 tells


def term_weights(
    weighting: Weighting,
    num_classes: int,
    class_weights: Sequence[float] | None,
    positive_rates: Sequence[float] | None,
) -> torch.Tensor:
    """(2, C): the loss weight of a negative and of a positive term of each tag; 1 without the data's figures."""
    if weighting == "none":
        return torch.ones(2, num_classes)
    if weighting == "per_tag":
        weight = torch.ones(num_classes) if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        return torch.stack([weight, weight])
    if positive_rates is None:
        return torch.ones(2, num_classes)
    rate = torch.tensor(positive_rates, dtype=torch.float32).clamp(1e-6, 1 - 1e-6)
    if weighting == "pos_weight":
        return torch.stack([torch.ones_like(rate), (1 - rate) / rate])
    return torch.stack([0.5 / (1 - rate), 0.5 / rate])


class WarmupThen(torch.optim.lr_scheduler.LRScheduler):
    """Per optimiser step: the lr rises linearly from 0 over ``warmup`` steps; then, with "linear", falls linearly to
    0 at step ``total`` (transformers' get_linear_schedule_with_warmup); with "plateau" it is left alone from there,
    to ReduceLROnPlateau."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule, warmup: int, total: int) -> None:
        self.schedule, self.warmup, self.total = schedule, warmup, total
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step < self.warmup:
            factor = step / self.warmup
        elif self.schedule == "linear":
            factor = max(0.0, (self.total - step) / max(1, self.total - self.warmup))
        elif step == self.warmup:  # the end of the warm-up: the lr it rose to
            factor = 1.0
        else:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [base * factor for base in self.base_lrs]


class TaggerModule(L.LightningModule):
    """Multi-label tagger trained with weighted BCE: Adam(W) with a warm-up and ReduceLROnPlateau on
    ``plateau_monitor`` (the lesson's ``val/loss`` by default) or a linear decay, or L-BFGS to convergence (``solver``).

    vocab_size, num_classes, class_weights and positive_rates come from the DataModule (linked by the CLI);
    ``weighting`` picks which of them weighs the loss (see Weighting), ``weight_decay`` is Adam's L2 penalty.
    With ``solver="lbfgs"`` the loss is scikit-learn's logistic regression objective summed over the tags: the
    weighted log-loss averaged over projects plus ||W||² / (2 C N) on the weights (biases unpenalised), solved
    full-batch (``--data.batch_size null``) until the gradient or the loss stops changing, at most ``max_iter``
    iterations; a solve that hits the cap says so.
    Fine-tuning a pretrained encoder (a network with an ``encoder`` submodule, tagger.models.encoder) takes
    ``encoder_lr`` for the encoder's parameters while the rest (the head) trains at ``lr``; ``warmup`` is the share
    of the trainer's optimiser steps (max_epochs or max_steps) over which the lr rises linearly from 0;
    ``lr_schedule`` what follows (see Schedule). Frozen parameters are left out of the optimiser.
    ``net`` is the network class with its own arguments bound (``model.net: {class_path, init_args}`` in the config, see
    tagger.models); it is called with the two sizes. Under LightningCLI the saved hyperparameters are the
    config (``net`` as class_path and init_args), plain data that tagger.predict rebuilds the network from.
    The decision threshold is a buffer, so checkpoints carry it; ThresholdTuner sets it after fit: one value,
    or one per tag (shape (C,)); a checkpoint of either shape loads.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        net: Network = CharCNN,
        class_weights: Sequence[float] | None = None,
        positive_rates: Sequence[float] | None = None,
        weighting: Weighting = "per_tag",
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        lr_factor: float = 0.1,
        lr_patience: int = 5,
        lr_schedule: Schedule = "plateau",
        warmup: float = 0.0,
        encoder_lr: float | None = None,
        solver: Solver = "adam",
        C: float | None = None,  # noqa: N803 (scikit-learn's name for it)
        max_iter: int = 1000,
        plateau_monitor: PlateauMonitor = "val/loss",
    ) -> None:
        super().__init__()
        if solver == "lbfgs" and (C is None or C <= 0 or weight_decay):
            raise TaggerError(
                "--model.solver lbfgs takes its L2 penalty as --model.C (a positive number, e.g. 3), not "
                f"weight_decay; got C={C}, weight_decay={weight_decay}"
            )
        if solver != "lbfgs" and C is not None:
            raise TaggerError("--model.C is the L-BFGS solver's penalty: add --model.solver lbfgs, or use weight_decay")
        if not 0.0 <= warmup < 1.0:
            raise TaggerError(f"--model.warmup is a share of the training steps, in [0, 1); got {warmup}")
        self.save_hyperparameters()
        self.net = net(vocab_size, num_classes)
        if encoder_lr is not None and not isinstance(getattr(self.net, "encoder", None), torch.nn.Module):
            raise TaggerError(
                f"--model.encoder_lr is the lr of a pretrained encoder, which {type(self.net).__name__} does not have; "
                "drop it (--model.lr sets every parameter's)"
            )
        if solver == "lbfgs" and any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in self.net.modules()):
            raise TaggerError(
                "--model.solver lbfgs needs a loss without noise to converge: set --model.net.dropout_p 0"
            )
        weights = term_weights(weighting, num_classes, class_weights, positive_rates)
        self.register_buffer("loss_weights", weights, persistent=False)
        self.register_buffer("threshold", torch.tensor(0.5))
        self.val_f1 = MultilabelF1Score(num_labels=num_classes, average="macro")
        # Threshold-free, so it tracks learning from the first epoch; val/f1 at 0.5 stays near 0 early on
        # (class weights push probabilities down) and would make an untrained model look better.
        self.val_ap = MultilabelAveragePrecision(num_labels=num_classes, average="macro")
        self._test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.test_report: dict | None = None

    def set_threshold(self, value: float | Sequence[float]) -> None:
        self.threshold = torch.as_tensor(value, dtype=torch.float32, device=self.threshold.device)

    def threshold_value(self) -> float | list[float]:
        """The threshold as plain data: one float, or one per tag."""
        return self.threshold.item() if self.threshold.ndim == 0 else self.threshold.tolist()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # checkpoints before the loss weightings kept the seed's class weights as nn.BCEWithLogitsLoss's buffer;
        # training-only, like loss_weights now (which the data rebuilds)
        state_dict.pop(prefix + "loss_fn.weight", None)
        saved = state_dict.get(prefix + "threshold")
        if saved is not None and saved.shape != self.threshold.shape:  # per-tag thresholds, or one
            self.threshold = torch.empty_like(saved, device=self.threshold.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, inputs: Inputs) -> torch.Tensor:
        return self.net(inputs)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean weighted BCE over every (project, tag) term."""
        weight = torch.where(targets > 0, self.loss_weights[1], self.loss_weights[0])
        return F.binary_cross_entropy_with_logits(logits.float(), targets, weight=weight)

    def _step(self, batch: tuple[Inputs, torch.Tensor], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = batch
        logits = self(inputs)
        loss = self.loss(logits, targets)
        self.log(f"{stage}/loss", loss, on_epoch=True, on_step=False, batch_size=len(targets), prog_bar=True)
        return loss, logits.float().sigmoid()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train")[0]
        if self.hparams.solver != "lbfgs":
            return loss
        rows = len(batch[1])  # the whole train split (checked in on_train_start)
        penalty = sum((p**2).sum() for p in self.parameters() if p.ndim > 1)
        return self.hparams.num_classes * loss + penalty / (2 * self.hparams.C * rows)

    def on_train_start(self) -> None:
        if self.hparams.solver == "lbfgs" and self.trainer.num_training_batches != 1:
            raise TaggerError(
                "--model.solver lbfgs solves on the whole train split at once, but the loader gives "
                f"{self.trainer.num_training_batches} batches; set --data.batch_size null"
            )

    def on_train_epoch_end(self) -> None:
        """L-BFGS solved in this epoch's one step: stop, and say so if it ran out of iterations first."""
        if self.hparams.solver != "lbfgs":
            return
        optimizer = self.optimizers().optimizer
        group = optimizer.param_groups[0]
        state = optimizer.state[group["params"][0]]
        self.log("train/iterations", float(state.get("n_iter", 0)))
        if state.get("n_iter", 0) >= group["max_iter"] or state.get("func_evals", 0) >= group["max_eval"]:
            rank_zero_warn(
                f"L-BFGS stopped at its iteration cap ({self.hparams.max_iter}) before converging; the model is not "
                "at its optimum. Raise --model.max_iter (or lower --model.C)"
            )
        self.trainer.should_stop = True

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        _, probs = self._step(batch, "val")
        self.val_f1(probs, batch[1].int())
        self.val_ap(probs, batch[1].int())
        # off the progress bar when the validation projects are trained on (train_on train+val): a perfect score
        shown = getattr(self.trainer.datamodule, "train_on", "train") == "train"
        self.log("val/f1", self.val_f1, on_epoch=True, on_step=False, prog_bar=shown)
        self.log("val/ap", self.val_ap, on_epoch=True, on_step=False)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        _, probs = self._step(batch, "test")
        self._test_outputs.append((probs.cpu(), batch[1].cpu()))

    def on_test_epoch_end(self) -> None:
        """Macro/weighted/micro F1 at the tuned threshold over the whole test split, kept in test_report."""
        probs, targets = (torch.cat(t).numpy() for t in zip(*self._test_outputs, strict=True))
        self._test_outputs.clear()
        classes = getattr(self.trainer.datamodule, "classes", [str(i) for i in range(targets.shape[1])])
        self.test_report = score(targets, probs, self.threshold.cpu().numpy(), classes)
        overall = self.test_report["overall"]
        self.log_dict({f"test/{k}": v for k, v in overall.items()} | {"test/threshold": self.threshold.mean().item()})

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[THRESHOLD_TUNED] = False
        if self.hparams.solver == "lbfgs":  # its curvature history (20 copies of the weights) ends with the solve
            for state in checkpoint.get("optimizer_states", []):
                state["state"] = {}

    def configure_optimizers(self):
        if self.hparams.solver == "lbfgs":
            return torch.optim.LBFGS(
                self.parameters(),
                lr=1.0,
                max_iter=self.hparams.max_iter,
                tolerance_grad=LBFGS_TOLERANCE_GRAD,
                tolerance_change=LBFGS_TOLERANCE_CHANGE,
                history_size=10,
                line_search_fn="strong_wolfe",
            )
        hp = self.hparams
        optimizer = (torch.optim.AdamW if hp.solver == "adamw" else torch.optim.Adam)(self._parameter_groups())
        schedulers = []
        if hp.warmup or hp.lr_schedule == "linear":
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise TaggerError("--model.warmup and --model.lr_schedule linear need a --trainer.max_epochs")
            per_step = WarmupThen(optimizer, hp.lr_schedule, round(hp.warmup * total), int(total))
            schedulers.append({"scheduler": per_step, "interval": "step"})
        if hp.lr_schedule == "plateau":
            monitor = hp.plateau_monitor
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min" if monitor == "val/loss" else "max", factor=hp.lr_factor, patience=hp.lr_patience
            )
            schedulers.append({"scheduler": plateau, "monitor": monitor})
        return [optimizer], schedulers

    def _parameter_groups(self) -> list[dict]:
        """The trainable parameters by lr (the encoder's ``encoder_lr``, the rest ``lr``) and weight decay (AdamW's
        spares biases and norms, as transformers' Trainer does; Adam's is an L2 penalty on every parameter)."""
        hp = self.hparams
        encoder = {id(p) for p in self.net.encoder.parameters()} if hp.encoder_lr is not None else set()
        groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
        for param in self.parameters():
            if param.requires_grad:
                lr = hp.encoder_lr if id(param) in encoder else hp.lr
                decay = hp.weight_decay if hp.solver == "adam" or param.ndim > 1 else 0.0
                groups.setdefault((lr, decay), []).append(param)
        return [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]
