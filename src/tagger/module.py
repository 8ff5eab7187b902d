"""LightningModule: a network plus its loss, optimiser, scheduler, metrics and decision threshold."""

from collections.abc import Sequence

import lightning.pytorch as L
import numpy as np
import torch
from torch import nn
from torchmetrics.classification import MultilabelAveragePrecision, MultilabelF1Score

from tagger.metrics import classification_report
from tagger.models import Network
from tagger.models.cnn import CharCNN

# Checkpoint key: False in every checkpoint saved while training, True once ThresholdTuner has tuned it.
# Checkpoints written before the key existed were tuned at the end of fit.
THRESHOLD_TUNED = "threshold_tuned"


class TaggerModule(L.LightningModule):
    """Multi-label tagger trained with class-weighted BCE, Adam and ReduceLROnPlateau on ``val/loss``.

    vocab_size, num_classes and class_weights come from the DataModule (linked by the CLI). ``net`` is the
    network class with its own arguments bound (``model.net: {class_path, init_args}`` in the config, see
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
        lr: float = 2e-4,
        lr_factor: float = 0.1,
        lr_patience: int = 5,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = net(vocab_size, num_classes)
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.loss_fn = nn.BCEWithLogitsLoss(weight=weight)
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
        saved = state_dict.get(prefix + "threshold")
        if saved is not None and saved.shape != self.threshold.shape:  # per-tag thresholds, or one
            self.threshold = torch.empty_like(saved, device=self.threshold.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, targets = batch
        logits = self(tokens)
        loss = self.loss_fn(logits.float(), targets)
        self.log(f"{stage}/loss", loss, on_epoch=True, on_step=False, batch_size=len(tokens), prog_bar=True)
        return loss, logits.float().sigmoid()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        _, probs = self._step(batch, "val")
        self.val_f1(probs, batch[1].int())
        self.val_ap(probs, batch[1].int())
        self.log("val/f1", self.val_f1, on_epoch=True, on_step=False, prog_bar=True)
        self.log("val/ap", self.val_ap, on_epoch=True, on_step=False)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        _, probs = self._step(batch, "test")
        self._test_outputs.append((probs.cpu(), batch[1].cpu()))

    def on_test_epoch_end(self) -> None:
        """Macro/weighted/micro F1 at the tuned threshold over the whole test split, kept in test_report."""
        probs, targets = (torch.cat(t).numpy() for t in zip(*self._test_outputs, strict=True))
        self._test_outputs.clear()
        classes = getattr(self.trainer.datamodule, "classes", [str(i) for i in range(targets.shape[1])])
        predicted = (probs >= self.threshold.cpu().numpy()).astype(np.int64)
        self.test_report = classification_report(targets, predicted, classes)
        overall = self.test_report["overall"]
        self.log_dict({f"test/{k}": v for k, v in overall.items()} | {"test/threshold": self.threshold.mean().item()})

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[THRESHOLD_TUNED] = False

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=self.hparams.lr_factor, patience=self.hparams.lr_patience
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}
