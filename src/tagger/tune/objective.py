"""One trial: suggest, build the model, measure what it costs to serve (rejecting it if over budget), fit with
pruning (one split, or K folds of train+val), and return the validation macro F1, or F1 and the costs that are
objectives. The plan every trial builds from is checked before the first."""

import json
from argparse import ArgumentError
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import optuna
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from optuna_integration import PyTorchLightningPruningCallback

from tagger.callbacks import predict_split
from tagger.data.datamodule import check_folds
from tagger.errors import TaggerError
from tagger.fit_cli import TaggerCLI, build
from tagger.lineage import lineage
from tagger.metrics import best_threshold, class_thresholds, score
from tagger.redact import first_line
from tagger.tune.cost import architecture, measure
from tagger.tune.objectives import COST_METRICS, OBJECTIVES, Budget
from tagger.tune.search_space import Param, edge_values, example_values, suggest, to_cli_args
from tagger.tune.trial_run import TrialRun

# Threshold-free, so it rises as soon as a model learns; F1 at 0.5 stays near 0 for early, well-trained epochs
# (class weights push probabilities down) and would rank an untrained model above them. A trial's early stopping,
# best-model checkpoint and ReduceLROnPlateau follow it too (maximised), whatever the fit config monitors.
PRUNING_MONITOR = "val/ap"
# What a cross-validated trial reports to the pruner after each fold: the mean, over its folds so far, of each
# fold's macro F1 at the threshold tuned on that fold's own predictions. The objective's own figure but for the
# threshold (which it takes from the other folds, not all run yet). val/ap ranks trials otherwise: a model whose
# tags are ranked well but scaled unevenly (per_tag weighting) has a high val/ap and a poor F1 at one threshold,
# and once such trials completed, the median pruner stopped nearly every other trial (docs/tuning.md).
FOLD_PRUNING_FIGURE = "val/f1_own_threshold"
STOPPING = (EarlyStopping, ModelCheckpoint)
PER_TAG_MIN_POSITIVES = 10  # ThresholdTuner's default: rarer tags keep the global threshold
Tuner = Callable[[np.ndarray, np.ndarray], float | list[float]]


def objective_name(cv: int) -> str:
    """What a study maximises, stored in its definition."""
    if cv == 1:
        return "validation macro F1 at the threshold tuned after fit"
    return f"mean macro F1 over {cv} folds of train+val, each at a threshold tuned on the other folds' predictions"


@dataclass(frozen=True)
class TrialPlan:
    """What every trial builds from: the fit config's arguments, the search space, and the callbacks a config
    without its own needs (EarlyStopping and a best-model checkpoint on PRUNING_MONITOR)."""

    base_args: list[str]
    space: dict[str, Param]
    parser: Any  # the fit config's parser, to resolve each trial's full config
    config: dict[str, Any]  # the resolved fit config (searched keys at example values)
    cv: int = 1  # folds of train+val; 1: the single train/val split
    objectives: tuple[str, ...] = ("f1",)  # names in tagger.tune.objectives.OBJECTIVES, F1 first
    budget: Budget = Budget()
    lineage: dict[str, str] = field(default_factory=dict)  # code, data and split: tags of every run
    needs_early_stopping: bool = False
    needs_checkpoint: bool = False

    def args(self, params: dict[str, Any]) -> list[str]:
        """A trial's fit arguments: the base config's, then its params."""
        return [*self.base_args, *to_cli_args(params)]

    def config_for(self, params: dict[str, Any]) -> str:
        """The trial's full resolved fit config as YAML: what `tagger.cli fit --config` retrains it from."""
        return self.parser.dump(self.parser.parse_args(self.args(params)), skip_none=False)

    @property
    def prunes(self) -> bool:
        """Optuna prunes single-objective studies only (Trial.report raises in a multi-objective one)."""
        return len(self.objectives) == 1

    def values(self, metrics: dict[str, float]) -> float | list[float]:
        """What the trial returns to Optuna: its F1, or one value per objective."""
        values = [metrics[OBJECTIVES[name].metric] for name in self.objectives]
        return values[0] if len(values) == 1 else values

    def callbacks(self) -> list[L.Callback]:
        callbacks: list[L.Callback] = []
        if self.needs_early_stopping:
            callbacks.append(EarlyStopping(monitor=PRUNING_MONITOR, mode="max", patience=10))
        if self.needs_checkpoint:  # before the resume checkpoint, so it is trainer.checkpoint_callback
            callbacks.append(ModelCheckpoint(monitor=PRUNING_MONITOR, mode="max"))
        return callbacks


def judged_monitors(config: Any) -> list[str]:
    """Fit arguments that make a config's EarlyStopping and ModelCheckpoint (its callbacks list, rewritten) and
    ReduceLROnPlateau follow PRUNING_MONITOR: a trial stops on the figure it is judged by, and best.yaml says so."""
    callbacks = [callback.as_dict() for callback in config.trainer.callbacks or []]
    for callback in callbacks:
        if callback["class_path"].rpartition(".")[2] in {cls.__name__ for cls in STOPPING}:
            callback["init_args"] |= {"monitor": PRUNING_MONITOR, "mode": "max"}
    return ["--trainer.callbacks", json.dumps(callbacks), "--model.plateau_monitor", PRUNING_MONITOR]


def make_plan(
    base_args: list[str],
    space: dict[str, Param],
    space_name: str,
    cv: int = 1,
    check_edges: bool = True,
    objectives: tuple[str, ...] = ("f1",),
    budget: Budget | None = None,
) -> TrialPlan:
    """Build the config with each searched key at each of its extremes (bounds, choices), so unknown keys, values
    the model rejects, or unreadable data fail here, before any trial, with the key named. check_edges=False
    skips that for a --workers process: its main process has just checked the same."""
    try:
        cli = build(base_args)
    except ArgumentError as err:
        raise TaggerError(
            f"the fit config does not parse: {err}; check --config and the --trainer.*/--model.*/--data.* arguments "
            "(the tuning options: python -m tagger.tune --help)"
        ) from None
    base_args = [*base_args, *judged_monitors(cli.config)]
    for key, value, params in edge_values(space) if check_edges else []:
        try:
            cli.rebuild([*base_args, *to_cli_args(params)])
        except ArgumentError as err:
            raise TaggerError(
                f"the fit config with the search space's {key}={value!r} does not parse: {err}; "
                f"check {space_name} and the --config/--trainer.*/--model.*/--data.* arguments"
            ) from None
        except Exception as err:  # what the model's, data's or trainer's constructor raises for a bad value
            raise TaggerError(
                f"{space_name}: '{key}' can take {value!r}, which the config rejects ({first_line(err)}); "
                "narrow its range"
            ) from None
    if check_edges and cv > 1:
        check_folds(cli.datamodule.corpus, cv, option="--cv")
    cli.rebuild([*base_args, *to_cli_args(example_values(space))])
    has = {type(cb) for cb in cli.trainer.callbacks}
    return TrialPlan(
        base_args,
        space,
        parser=cli.parser,
        config=cli.config.clone().as_dict(),
        cv=cv,
        objectives=objectives,
        budget=budget or Budget(),
        lineage=lineage(cli.datamodule),
        needs_early_stopping=not any(issubclass(t, EarlyStopping) for t in has),
        needs_checkpoint=not any(issubclass(t, ModelCheckpoint) for t in has),
    )


def objective(trial: optuna.Trial, plan: TrialPlan, run: TrialRun) -> float | list[float]:
    params = suggest(trial, plan.space)
    run.record.config = plan.config_for(params)
    run.start(params, plan.lineage)
    if plan.cv > 1:  # costs measured on the plain split's validation texts, as in a single-split study
        run.record.pruned_on = FOLD_PRUNING_FIGURE if plan.prunes else None
        admit(trial, plan, run, build(plan.args(params)))
        cross_validated(trial, plan, run, params)
        return plan.values(run.record.metrics)
    callbacks = plan.callbacks()
    if plan.prunes:
        run.record.pruned_on = PRUNING_MONITOR
        callbacks.append(PyTorchLightningPruningCallback(trial, monitor=PRUNING_MONITOR))
    cli = build(plan.args(params), trainer_defaults=run.trainer_defaults(callbacks))
    admit(trial, plan, run, cli)
    try:
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=run.resume_from())
    finally:
        run.record.epochs = cli.trainer.current_epoch
    module, dm = cli.model, cli.datamodule
    threshold = module.threshold.cpu().numpy()  # one, or one per tag
    run.record.metrics["threshold"] = float(threshold.mean())
    for split in ("val", "test"):  # only validation F1 steers the search
        probs, targets = predict_split(module, dm.dataloader(split))
        overall = score(targets, probs, threshold, dm.classes)["overall"]
        run.record.metrics |= {f"{split}_{name}": value for name, value in overall.items()}
    return plan.values(run.record.metrics)


def admit(trial: optuna.Trial, plan: TrialPlan, run: TrialRun, cli: TaggerCLI) -> None:
    """Record the untrained model's costs on the trial (an earlier trial's, if it measured this architecture),
    and its budget excess as Optuna constraints (the sampler then steers away from it); a model over budget
    ends here, pruned and marked rejected."""
    run.record.architecture = architecture(cli)
    run.record.metrics = measured(trial.study, run.record.architecture) or measure(cli)
    run.record.save(trial)
    excess = plan.budget.excess(run.record.metrics)
    for metric, value in excess.items():
        trial.set_constraint(metric, value)
    limits = plan.budget.limits()
    over = [f"{metric} {run.record.metrics[metric]:.4g} > {limits[metric]:g}" for metric, v in excess.items() if v > 0]
    if over:
        run.record.rejected = "over budget: " + ", ".join(over)
        raise optuna.TrialPruned(run.record.rejected)


def measured(study: optuna.Study, arch: str) -> dict[str, float] | None:
    """The costs a trial of the study recorded for this architecture, if any did."""
    for other in study.get_trials(deepcopy=False):
        attrs = other.user_attrs
        if attrs.get("architecture") == arch and all(metric in attrs for metric in COST_METRICS):
            return {metric: attrs[metric] for metric in COST_METRICS}  # as measure() gave them (counts as integers)
    return None


def cross_validated(trial: optuna.Trial, plan: TrialPlan, run: TrialRun, params: dict[str, Any]) -> None:
    """One model per fold; each fold is scored at a threshold tuned on the other folds' predictions, never on its
    own. Pruning looks after each fold but the last at FOLD_PRUNING_FIGURE (step = fold). A fold's predictions are
    kept in the trial's folder, so a retried trial fits only the folds it lacks."""
    folds, figures = [], []
    for fold in range(plan.cv):
        saved = run.part_dir(f"fold_{fold}") / "predictions.npz"
        if not saved.exists():
            fit_fold_of(plan, run, params, fold, saved)
        folds.append(dict(np.load(saved)))
        if plan.prunes:
            figures.append(own_threshold_f1(folds[-1]))
            trial.report(float(np.mean(figures)), step=fold)
            if fold < plan.cv - 1 and trial.should_prune():  # after the last, pruning saves nothing and loses its F1
                raise optuna.TrialPruned(f"pruned after fold {fold}")
    classes = list(folds[0]["classes"])
    ys, probs = [f["val_y"] for f in folds], [f["val_p"] for f in folds]
    scores = out_of_fold_scores(ys, probs, classes)
    # recorded, not optimised: what per-tag thresholds would score, to choose threshold.per_class by measurement
    per_tag = out_of_fold_scores(ys, probs, classes, lambda y, p: class_thresholds(y, p, PER_TAG_MIN_POSITIVES))
    threshold = best_threshold(np.concatenate(ys), np.concatenate(probs))
    test_p = np.mean([f["test_p"] for f in folds], axis=0)  # the fold models' mean: a preview, never steering
    test = score(folds[0]["test_y"], test_p, threshold, classes)["overall"]
    run.record.metrics |= (
        {"val_f1": float(np.mean(scores)), "val_f1_std": float(np.std(scores)), "threshold": threshold}
        | {"val_f1_per_tag_thresholds": float(np.mean(per_tag))}
        | {f"val_f1_fold{k}": value for k, value in enumerate(scores)}
        | {f"test_{name}": value for name, value in test.items()}
    )


def out_of_fold_scores(
    ys: list[np.ndarray], probs: list[np.ndarray], classes: list[str], tune: Tuner = best_threshold
) -> list[float]:
    """Each fold's macro F1 at the threshold(s) tuned on all the other folds' predictions (one global threshold,
    or what ``tune`` returns: one per tag, say)."""
    others = [[j for j in range(len(ys)) if j != k] for k in range(len(ys))]
    thresholds = [tune(np.concatenate([ys[j] for j in js]), np.concatenate([probs[j] for j in js])) for js in others]
    return [score(y, p, t, classes)["overall"]["f1"] for y, p, t in zip(ys, probs, thresholds, strict=True)]


def own_threshold_f1(fold: dict[str, np.ndarray]) -> float:
    """A fold's validation macro F1 at the one threshold that is best on its own predictions."""
    y, p = fold["val_y"], fold["val_p"]
    return score(y, p, best_threshold(y, p), list(fold["classes"]))["overall"]["f1"]


def fit_fold_of(plan: TrialPlan, run: TrialRun, params: dict[str, Any], fold: int, saved: Path) -> None:
    """A trial's fold, tracked under the trial's run and resumable from its last epoch; its predictions saved."""
    part = f"fold_{fold}"
    defaults = run.trainer_defaults(plan.callbacks(), part=part)
    arrays, epochs = fit_fold(plan.args(params), plan.cv, fold, defaults, ckpt_path=run.resume_from(part))
    run.record.epochs = (run.record.epochs or 0) + epochs
    np.savez(saved, **arrays)


def fit_fold(
    args: list[str],
    folds: int,
    fold: int,
    trainer_defaults: dict[str, Any],
    ckpt_path: Path | None = None,
    cv_seed: int | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Fit fold ``fold`` of ``folds`` of the config of ``args``, cut as ``cv_seed`` seeds it (default: the
    config's); its validation and test predictions and classes, and the epochs it ran."""
    args = [*args, f"--data.cv_folds={folds}", f"--data.cv_fold={fold}"]
    args += [] if cv_seed is None else [f"--data.cv_seed={cv_seed}"]
    cli = build(args, trainer_defaults=trainer_defaults)
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt_path)
    dm = cli.datamodule
    val_p, val_y = predict_split(cli.model, dm.dataloader("val"))
    test_p, test_y = predict_split(cli.model, dm.dataloader("test"))
    arrays = {"val_p": val_p, "val_y": val_y, "test_p": test_p, "test_y": test_y}
    return arrays | {"classes": np.array(dm.classes)}, cli.trainer.current_epoch
