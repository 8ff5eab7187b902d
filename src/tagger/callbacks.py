"""ThresholdTuner: after fit, restore the best weights and pick the decision threshold."""

from pathlib import Path
from typing import Literal

import lightning.pytorch as L
import numpy as np
import torch

from tagger.errors import TaggerError
from tagger.files import atomic
from tagger.metrics import best_threshold, class_thresholds
from tagger.module import THRESHOLD_TUNED


@torch.no_grad()
def predict_split(module: L.LightningModule, loader) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and targets over a loader, in eval mode."""
    was_training = module.training
    module.eval()
    probs, targets = [], []
    for tokens, y in loader:
        probs.append(module(tokens.to(module.device)).float().sigmoid().cpu())
        targets.append(y)
    module.train(was_training)
    return torch.cat(probs).numpy(), torch.cat(targets).numpy()


class ThresholdTuner(L.Callback):
    """Sets the module's threshold to the F1-maximising one on a split, and writes it into the checkpoints.

    Args:
        split: "train" as the seed lesson does, or "val" (train probabilities are over-confident).
        per_class: one threshold per tag instead of one for all.
        min_positives: with per_class, a tag with fewer positives in the split keeps the global threshold.
        value: no tuning: this threshold, chosen elsewhere (a cross-validated study's out-of-fold threshold for
            its final model, fitted on train+val).
    """

    def __init__(
        self,
        split: Literal["train", "val"] = "train",
        per_class: bool = False,
        min_positives: int = 10,
        value: float | None = None,
    ):
        if value is not None and not 0 < value < 1:  # else a checkpoint that tags nothing (or everything)
            raise TaggerError(f"--threshold.value {value}: a decision threshold is a probability; give one in (0, 1)")
        self.split = split
        self.per_class = per_class
        self.min_positives = min_positives
        self.value = value
        self.threshold: float | list[float] | None = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._tune(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        """Ctrl-C during fit: the best checkpoint so far gets its threshold too, so it is usable as it is."""
        if isinstance(exception, KeyboardInterrupt) and getattr(trainer.checkpoint_callback, "best_model_path", ""):
            print("interrupted: tuning the decision threshold on the best checkpoint so far ...", flush=True)
            self._tune(trainer, pl_module)

    def _tune(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_path", "")
        if best:
            state = torch.load(best, map_location=pl_module.device, weights_only=True)["state_dict"]
            pl_module.load_state_dict(state)
        if self.value is not None:
            self.threshold = self.value
        elif self.per_class:
            self.threshold = class_thresholds(*self._predictions(trainer, pl_module), self.min_positives)
        else:
            self.threshold = best_threshold(*self._predictions(trainer, pl_module))
        pl_module.set_threshold(self.threshold)
        if trainer.is_global_zero:
            for path in {best, getattr(checkpoint, "last_model_path", "")} - {""}:
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
                ckpt["state_dict"]["threshold"] = pl_module.threshold.detach().cpu().clone()
                ckpt[THRESHOLD_TUNED] = True
                with atomic(Path(path)) as part:  # a full disk leaves the saved checkpoint whole
                    torch.save(ckpt, part)
        for logger in trainer.loggers:
            logger.log_metrics({"threshold": float(np.mean(self.threshold))}, step=trainer.global_step)

    def _predictions(self, trainer: L.Trainer, pl_module: L.LightningModule) -> tuple[np.ndarray, np.ndarray]:
        """Targets and probabilities on the split the threshold is tuned on."""
        probs, targets = predict_split(pl_module, trainer.datamodule.dataloader(self.split))
        return targets, probs
