"""The one path from a finished study to the model it hands over: the picked trial → best.yaml → its refit →
the lean best.ckpt → best.json → best_report.json. The three best.* files always describe one trial.

The final model is the picked trial's config refitted once, as `python -m tagger.cli fit --config best.yaml`
does (a cross-validated trial keeps its folds' predictions, not their models). A converged (L-BFGS) winner of a
cross-validated study is refitted on train+val at its out-of-fold threshold (docs/results.md); a network that
stops early on val is refitted on train.
"""

import contextlib
import hashlib
import io
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tagger.errors import TaggerError
from tagger.files import write_atomic
from tagger.fit_cli import cli_main
from tagger.loading import Tagger, save_lean
from tagger.metrics import score
from tagger.tune.objectives import Pick
from tagger.tune.record import TrialRecord

FILES = ("best.yaml", "best.ckpt", "best.json", "best_report.json")


def choose(study: optuna.Study, pick: Pick) -> FrozenTrial | None:
    """The complete trial the pick rule chooses: by default the best first objective (F1), then the others
    in their studies' directions, so the pick is on the front. None before the first complete trial."""
    trials = study.get_trials(deepcopy=False)
    if pick.trial is not None:
        if not 0 <= pick.trial < len(trials):
            raise TaggerError(f"--pick trial={pick.trial}: the study has trials 0 to {len(trials) - 1}")
        if trials[pick.trial].state != TrialState.COMPLETE:
            state = trials[pick.trial].state.name.lower()
            raise TaggerError(f"--pick trial={pick.trial}: that trial is {state}; pick a complete one")
        return trials[pick.trial]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    admitted = [t for t in complete if pick.admits(t.user_attrs)]
    if complete and not admitted:
        lowest = {m: min(float(t.user_attrs.get(m, math.inf)) for t in complete) for m, _ in pick.budgets}
        shown = ", ".join(f"{metric} {value:g}" for metric, value in lowest.items())
        raise TaggerError(f"no complete trial meets --pick {pick} (the lowest: {shown}); relax the budget")
    signs = [1 if d == StudyDirection.MAXIMIZE else -1 for d in study.directions]
    return max(admitted, key=lambda t: [s * v for s, v in zip(signs, t.values, strict=True)], default=None)


def final_settings(config: dict, cv: int, threshold: float) -> dict:
    """What the final model changes in the winning trial's resolved config (nested, as best.yaml holds it)."""
    if cv > 1 and config.get("model", {}).get("solver") == "lbfgs":
        return {"data": {"train_on": "train+val"}, "threshold": {"value": threshold}}
    return {}


def best_config(trial: FrozenTrial, cv: int, header: str) -> str:
    """The trial's own full config with what the final model changes in it: best.yaml."""
    record = TrialRecord.of(trial)
    config = yaml.safe_load(record.config)
    for section, values in final_settings(config, cv, record.metric("threshold")).items():
        config.setdefault(section, {}).update(values)
    return header + yaml.safe_dump(config, sort_keys=False)


@dataclass
class HandOver:
    """What a study handed over: the trial, its refit's test figures, and the files."""

    trial: FrozenTrial
    test: dict  # the refit's overall test figures, its epochs and what it was fitted on; {} when not built
    files: list[Path]


def hand_over(
    study: optuna.Study, best: FrozenTrial | None, pick: Pick, out: Path, cv: int, build: bool
) -> HandOver | None:
    """Write the best.* files for the picked trial (choose's); refit only when best.ckpt is not that trial's config
    already (best.json records which). With build off (a stopped run) a stale model is removed, not refitted."""
    if best is None:
        for name in FILES:
            (out / name).unlink(missing_ok=True)
        return None
    how = "Best trial" if pick == Pick() else f"Trial picked by --pick {pick}:"
    header = (
        f"# {how} {best.number} of study {study.study_name}; objective {best.values[0]:.4f}. "
        "Retrain: python -m tagger.cli fit --config best.yaml\n"
    )
    config = best_config(best, cv, header)
    digest = hashlib.sha256(config.encode()).hexdigest()
    record = out / "best.json"
    saved = json.loads(record.read_text()) if record.exists() else {}
    if saved.get("config_sha256") == digest and (out / "best.ckpt").exists():
        return HandOver(best, saved["test"], [out / name for name in FILES])
    for name in ("best.ckpt", "best.json", "best_report.json"):  # never a model of another trial beside best.yaml
        (out / name).unlink(missing_ok=True)
    write_atomic(out / "best.yaml", config)
    if not build:
        return HandOver(best, {}, [out / "best.yaml"])
    test, report = refit(out)
    write_atomic(out / "best_report.json", json.dumps(report, indent=2))
    write_atomic(out / "best.json", json.dumps({"trial": best.number, "config_sha256": digest, "test": test}))
    return HandOver(best, test, [out / name for name in FILES])


def refit(out: Path) -> tuple[dict, dict]:
    """best.ckpt from best.yaml, as `cli fit` trains it; its test figures, and its per-class test report."""
    print("refitting the handed-over trial's config (best.yaml) for best.ckpt ...", flush=True)
    start = time.monotonic()
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    with tempfile.TemporaryDirectory(dir=out, prefix="refit.") as root:
        with contextlib.redirect_stdout(io.StringIO()):  # fit's closing line names a folder about to go
            cli = cli_main(["fit", "--config", str(out / "best.yaml"), "--trainer.default_root_dir", root, *quiet])
        save_lean(cli.trainer.checkpoint_callback.best_model_path, out / "best.ckpt")
    dm, model = cli.datamodule, Tagger.load(out / "best.ckpt")
    rows = dm.corpus.splits["test"]
    probs = model.proba_of_cleaned([dm.corpus.texts[i] for i in rows], [dm.corpus.raw[i] for i in rows])
    report = score(dm.corpus.y[rows], probs, model.threshold, dm.classes)
    test = report["overall"] | {"epochs": cli.trainer.current_epoch, "train_on": dm.train_on}
    test["seconds"] = round(time.monotonic() - start, 1)  # the refit and its test scoring: part of the study's time
    return test, report | {"threshold": model.threshold}
