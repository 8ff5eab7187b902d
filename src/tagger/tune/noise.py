"""How noisy a cross-validated study's objective is: the winner's config scored again on other cuts of train+val
into folds. A difference between two trials smaller than this spread is not a result."""

import statistics
import tempfile
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from tagger.tune.objective import TrialPlan, fit_fold, out_of_fold_scores
from tagger.tune.search_space import trial_params

NOISE_ATTR = "objective_noise"  # study user attribute: {"trial", "cv_seeds", "scores", "sd"}


def objective_noise(study: optuna.Study, best: FrozenTrial, plan: TrialPlan, repeats: int, out: Path) -> dict | None:
    """The objective of ``best``'s config on its own cut and on ``repeats`` others (--data.cv_seed), and their
    standard deviation; kept on the study and measured again only for another winner."""
    saved = study.user_attrs.get(NOISE_ATTR)
    if saved and saved["trial"] == best.number and len(saved["scores"]) == repeats + 1:
        return saved
    if plan.cv < 2 or repeats < 1:
        return None
    seed = plan.config["data"]["cv_seed"] or plan.config["data"]["seed"]
    seeds = [seed + r for r in range(1, repeats + 1)]
    print(f"objective noise: trial {best.number}'s config on {repeats} other cuts into {plan.cv} folds ...", flush=True)
    scores, args = [best.values[0]], plan.args(trial_params(plan.space, best.params))
    with tempfile.TemporaryDirectory(dir=out, prefix="noise.") as root:
        defaults = {
            "default_root_dir": root,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": root}},
            "callbacks": plan.callbacks(),
        }
        for cv_seed in seeds:
            folds = [fit_fold(args, plan.cv, k, defaults, cv_seed=cv_seed)[0] for k in range(plan.cv)]
            ys, probs = [f["val_y"] for f in folds], [f["val_p"] for f in folds]
            scores.append(float(np.mean(out_of_fold_scores(ys, probs, list(folds[0]["classes"])))))
    noise = {"trial": best.number, "cv_seeds": seeds, "scores": scores, "sd": statistics.stdev(scores)}
    study.set_user_attr(NOISE_ATTR, noise)
    return noise
