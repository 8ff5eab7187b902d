"""The model a cross-validated study hands over: its winner refitted from best.yaml, as `cli fit` would.

A cross-validated trial fits K fold models and keeps their predictions, not the models. Two ways to turn the
winner into one model were measured (README, "The final model"): the K fold models' mean probabilities (an
ensemble, K times the predict cost) and one refit of the winning config on the train split. The refit scored
as well on test and is what `python -m tagger.cli fit --config best.yaml` retrains, so it is the final model.
"""

import json
import tempfile
from pathlib import Path

import numpy as np
from optuna.trial import FrozenTrial

from tagger.callbacks import predict_split
from tagger.cli import cli_main
from tagger.loading import save_lean
from tagger.metrics import classification_report

RECORD = "best.json"  # which trial best.ckpt was refitted from, and its test figures


def refit(best: FrozenTrial, output_dir: Path) -> dict:
    """best.ckpt from best.yaml (trial ``best``'s config); its test figures. Done once per winning trial: a
    rerun whose winner has not changed keeps the file and the figures."""
    record, target = output_dir / RECORD, output_dir / "best.ckpt"
    if record.exists() and target.exists():
        saved = json.loads(record.read_text())
        if saved.get("trial") == best.number:
            return saved["test"]
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    print(f"refitting trial {best.number}'s config (best.yaml) on the train split for best.ckpt ...", flush=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix="refit.") as root:
        cli = cli_main(["fit", "--config", str(output_dir / "best.yaml"), "--trainer.default_root_dir", root, *quiet])
        module, dm = cli.model, cli.datamodule  # best weights and tuned threshold, restored by ThresholdTuner
        probs, targets = predict_split(module, dm.dataloader("test"))
        predicted = (probs >= module.threshold.cpu().numpy()).astype(np.int64)
        test = classification_report(targets, predicted, dm.classes)["overall"] | {"epochs": cli.trainer.current_epoch}
        save_lean(cli.trainer.checkpoint_callback.best_model_path, target)
    record.write_text(json.dumps({"trial": best.number, "test": test}))
    return test
