"""The model a cross-validated study hands over: its winner refitted from best.yaml, as `cli fit` would.

A cross-validated trial fits K fold models and keeps their predictions, not the models. The final model is one
refit of the winning config (it scored as well on test as the fold models' ensemble, at a Kth of the cost).
A converged (L-BFGS) winner is refitted on train+val at its out-of-fold threshold, which scored higher on the
test splits of 13 of 16 split seeds than train alone with a threshold on val (benchmarks/final_fit.py); a
network that stops early on val is refitted on train, its threshold tuned as its config says.
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


def final_settings(config: dict, cv: int, threshold: float) -> dict:
    """What the final model changes in the winning trial's resolved config (nested, as best.yaml holds it)."""
    if cv > 1 and config.get("model", {}).get("solver") == "lbfgs":
        return {"data": {"train_on": "train+val"}, "threshold": {"value": threshold}}
    return {}


def refit(best: FrozenTrial, output_dir: Path) -> dict:
    """best.ckpt from best.yaml (trial ``best``'s config); its test figures. Done once per winning trial: a
    rerun whose winner has not changed keeps the file and the figures."""
    record, target = output_dir / RECORD, output_dir / "best.ckpt"
    if record.exists() and target.exists():
        saved = json.loads(record.read_text())
        if saved.get("trial") == best.number:
            return saved["test"]
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    print(f"refitting trial {best.number}'s config (best.yaml) for best.ckpt ...", flush=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix="refit.") as root:
        cli = cli_main(["fit", "--config", str(output_dir / "best.yaml"), "--trainer.default_root_dir", root, *quiet])
        module, dm = cli.model, cli.datamodule  # best weights and tuned threshold, restored by ThresholdTuner
        probs, targets = predict_split(module, dm.dataloader("test"))
        predicted = (probs >= module.threshold.cpu().numpy()).astype(np.int64)
        test = classification_report(targets, predicted, dm.classes)["overall"]
        test |= {"epochs": cli.trainer.current_epoch, "train_on": dm.train_on}
        save_lean(cli.trainer.checkpoint_callback.best_model_path, target)
    record.write_text(json.dumps({"trial": best.number, "test": test}))
    return test
