"""How noisy a cross-validated study's objective is: the winner's config scored again on other cuts of train+val
into folds. A difference between two trials smaller than this spread is not a result.

Each cut costs about what the winner's own trial cost, so by default a study measures only as many cuts as fit in
a fifth of the time its trials took (at most three): a 6-trial study one cut, not three (which cost a 6-trial study
40% of its time, issue 24), a 50-trial study three. --noise-repeats N measures N whatever they cost."""

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from tagger.tune.objective import TrialPlan, fit_fold, out_of_fold_scores
from tagger.tune.progress import clock, plural
from tagger.tune.search_space import trial_params

NOISE_ATTR = "objective_noise"  # study user attribute: {"trial", "cv_seeds", "scores", "sd", "seconds"}
SHARE = 0.2  # of the trials' summed durations, what the noise phase may cost by default
MAX_REPEATS = 3


def default_repeats(study: optuna.Study, best: FrozenTrial) -> int:
    """The other cuts that fit in SHARE of the trials' summed durations, each costing the winner's own duration
    (at most MAX_REPEATS; 0 when even one would cost more)."""
    spent = sum(t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration)
    own = best.duration.total_seconds() if best.duration else spent
    return min(MAX_REPEATS, int(SHARE * spent / own)) if own > 0 else 0


def objective_noise(
    study: optuna.Study, best: FrozenTrial, plan: TrialPlan, repeats: int | None, out: Path
) -> dict | None:
    """The objective of ``best``'s config on its own cut and on ``repeats`` others (--data.cv_seed; None: as many
    as default_repeats allows), and their standard deviation; kept on the study and measured again only for another
    winner or more cuts. Prints a line per fit with k/N and an ETA."""
    if plan.cv < 2:
        return None
    wanted = default_repeats(study, best) if repeats is None else repeats
    saved = study.user_attrs.get(NOISE_ATTR)
    if saved and saved["trial"] == best.number and len(saved["scores"]) >= wanted + 1:
        return saved
    if wanted < 1:
        print(
            f"objective noise: not measured (one other cut costs about trial {best.number}'s "
            f"{clock(best.duration.total_seconds() if best.duration else 0)}, over {SHARE:.0%} of the trials' time); "
            "--noise-repeats N measures it on N cuts",
            flush=True,
        )
        return None
    seed = plan.config["data"]["cv_seed"] or plan.config["data"]["seed"]
    seeds = [seed + r for r in range(1, wanted + 1)]
    fits, start = wanted * plan.cv, time.monotonic()
    per_fit = best.duration.total_seconds() / plan.cv if best.duration else None  # until the first fit ends
    guess = f", ETA {clock(per_fit * fits)}" if per_fit else ""
    print(
        f"objective noise: trial {best.number}'s config on {plural(wanted, 'other cut')} into {plan.cv} folds: "
        f"{fits} fits{guess}",
        flush=True,
    )
    scores, args = [best.values[0]], plan.args(trial_params(plan.space, best.params))
    with tempfile.TemporaryDirectory(dir=out, prefix="noise.") as root:
        defaults = {
            "default_root_dir": root,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": root}},
            "callbacks": plan.callbacks(),
        }
        for r, cv_seed in enumerate(seeds):
            folds = []
            for k in range(plan.cv):
                folds.append(fit_fold(args, plan.cv, k, defaults, cv_seed=cv_seed)[0])
                done, elapsed = r * plan.cv + k + 1, time.monotonic() - start
                eta = f"ETA {clock(elapsed / done * (fits - done))}" if done < fits else "done"
                print(f"objective noise: {done}/{fits} fits, {clock(elapsed)} elapsed, {eta}", flush=True)
            ys, probs = [f["val_y"] for f in folds], [f["val_p"] for f in folds]
            scores.append(float(np.mean(out_of_fold_scores(ys, probs, list(folds[0]["classes"])))))
    noise = {
        "trial": best.number,
        "cv_seeds": seeds,
        "scores": scores,
        "sd": statistics.stdev(scores),
        "seconds": time.monotonic() - start,
    }
    study.set_user_attr(NOISE_ATTR, noise)
    return noise
