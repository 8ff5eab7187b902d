"""What a user acts on after a study: trials.csv, best.yaml, the best model, plots and summary.md."""

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from optuna.trial import FrozenTrial, TrialState

from tagger import baseline
from tagger.cli import build
from tagger.data.datamodule import TaggerDataModule
from tagger.errors import TaggerError
from tagger.lineage import fixed_settings
from tagger.loading import Tagger, save_lean
from tagger.metrics import classification_report
from tagger.tune.final import refit
from tagger.tune.record import TrialRecord, best_trial
from tagger.tune.search_space import to_cli_args
from tagger.tune.storage import StorageURL

PLOTS = {
    "optimization_history": optuna.visualization.plot_optimization_history,
    "param_importances": optuna.visualization.plot_param_importances,
    "contour": optuna.visualization.plot_contour,
    "parallel_coordinate": optuna.visualization.plot_parallel_coordinate,
    "intermediate_values": optuna.visualization.plot_intermediate_values,
}


def write_atomic(path: Path, text: str) -> None:
    """All or nothing: a full disk or a kill mid-write leaves the previous file (or none), never half of one."""
    part = path.with_name(path.name + ".part")
    try:
        part.write_text(text)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """The trials dataframe, best validation F1 first (the seed lesson's table)."""
    table = study.trials_dataframe()
    if table.empty:
        return table
    table = table.drop(columns=["user_attrs_config"], errors="ignore")  # a whole YAML file: see best.yaml
    # Complete trials first: a pruned trial's value is its last intermediate val/ap, not a validation F1.
    complete = table["state"] == TrialState.COMPLETE.name
    return (
        table.assign(_complete=complete).sort_values(["_complete", "value"], ascending=False).drop(columns="_complete")
    )


def write_plots(study: optuna.Study, output_dir: Path) -> dict[str, str]:
    """Self-contained HTML plots; a plot that the finished trials cannot support yet is skipped with why."""
    skipped = {}
    for name, plot in PLOTS.items():
        try:
            figure = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            skipped[name] = str(err)
            continue
        write_atomic(output_dir / f"{name}.html", figure.to_html(include_plotlyjs=True))
    return skipped


def best_config(base_args: list[str], trial: FrozenTrial) -> str:
    """The best trial's own full config, retrainable with `tagger.cli fit --config`. Trials of studies run
    before trials stored their config are rebuilt from this command's config and the trial's params."""
    record = TrialRecord.of(trial)
    if record.config is None:
        cli = build([*base_args, *to_cli_args(trial.params)])
        record.config = cli.parser.dump(cli.config, skip_none=False)
    header = (
        f"# Best trial {trial.number} of study; val macro F1 {trial.value:.4f}, "
        f"test macro F1 {record.metric('test_f1'):.4f}, "
        f"threshold {record.metric('threshold'):.4f} (tuned after fit).\n"
        f"# Retrain: python -m tagger.cli fit --config best.yaml\n"
    )
    return header + record.config


def export_best_model(best: FrozenTrial | None, output_dir: Path) -> None:
    """best.ckpt is the inference part of the best trial's model (tagger.loading.save_lean); the full
    checkpoint stays in models/, the models of trials it beat are deleted."""
    models = output_dir / "models"
    source = models / f"trial_{best.number}.ckpt" if best else None
    if source is None or not source.exists():
        return
    save_lean(source, output_dir / "best.ckpt")
    for other in models.glob("*.ckpt"):
        if other != source:
            other.unlink()


@torch.no_grad()
def best_model_report(output_dir: Path) -> Path | None:
    """best.ckpt's per-class precision, recall, F1 and support on the test split of its own config (best.yaml),
    at its threshold: best_report.json."""
    model_file, config = output_dir / "best.ckpt", output_dir / "best.yaml"
    if not (model_file.exists() and config.exists()):
        return None
    model = Tagger.load(model_file)
    corpus = build(["--config", str(config)]).datamodule.corpus
    rows = corpus.splits["test"]
    inputs = model.encoder.collate(model.encoder.encode_all([corpus.texts[i] for i in rows]))  # already cleaned
    probs = model.module(inputs).float().sigmoid().numpy()
    predicted = (probs >= np.asarray(model.threshold)).astype(np.int64)
    report = classification_report(corpus.y[rows], predicted, model.classes) | {"threshold": model.threshold}
    write_atomic(output_dir / "best_report.json", json.dumps(report, indent=2))
    return output_dir / "best_report.json"


def baseline_figures(dm: TaggerDataModule) -> dict:
    """The yardstick on the study's own data and split: TF-IDF + logistic regression, threshold on val."""
    try:
        return baseline.report(baseline.train(dm, C=baseline.DEFAULT_C, threshold_split="val"), dm.corpus)
    except TaggerError as err:  # data too small for it (a tag on every train project, say): say so instead
        return {"error": str(err)}


def _baseline_lines(figures: dict, best: FrozenTrial | None) -> list[str]:
    lines = ["", "## Baseline on the same split", ""]
    if "error" in figures:
        return [*lines, f"Not fitted: {figures['error']}"]
    overall = figures["overall"]
    lines.append(
        "TF-IDF + logistic regression (`python -m tagger.baseline`), threshold tuned on val: test precision "
        f"{overall['precision']:.4f}, recall {overall['recall']:.4f}, macro F1 {overall['f1']:.4f}, "
        f"weighted F1 {overall['f1_weighted']:.4f}."
    )
    if best is not None:
        gap = TrialRecord.of(best).metric("test_f1") - overall["f1"]
        lines.append(f"Best trial's test macro F1 minus the baseline's: {gap:+.4f}.")
    return lines


def _family_lines(study: optuna.Study, best: FrozenTrial) -> list[str]:
    """The best complete trial of each network family the study tried, and how far it is from the winner."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "model.net" in t.params]
    families = sorted({t.params["model.net"] for t in complete})
    if len(families) < 2:
        return []
    lines = [
        "",
        "## Network families",
        "",
        "| family | trials | best trial | objective | minus the winner |",
        "|---|---|---|---|---|",
    ]
    for family in families:
        trials = [t for t in complete if t.params["model.net"] == family]
        top = max(trials, key=lambda t: t.value)
        lines.append(f"| {family} | {len(trials)} | {top.number} | {top.value:.4f} | {top.value - best.value:+.4f} |")
    return lines


def _final_lines(best: FrozenTrial, final: dict | None, cv: int) -> list[str]:
    lines = ["", "## The model in best.ckpt", ""]
    if cv == 1:
        return [*lines, f"Trial {best.number}'s own model (the figures above)."]
    if final is None:
        return [
            *lines,
            "Not built (the run was stopped); rerun the command, or `python -m tagger.cli fit --config best.yaml`.",
        ]
    ensemble = TrialRecord.of(best).metric("test_f1")
    return [
        *lines,
        f"Trial {best.number}'s config refitted on the train split by `python -m tagger.cli fit --config best.yaml` "
        f"({final['epochs']} epochs): test precision {final['precision']:.4f}, recall {final['recall']:.4f}, "
        f"macro F1 {final['f1']:.4f}, weighted F1 {final['f1_weighted']:.4f}.",
        f"For comparison, the mean of its {cv} fold models' probabilities (an ensemble) scored test macro F1 "
        f"{ensemble:.4f} at the out-of-fold threshold.",
    ]


def summary(
    study: optuna.Study,
    best: FrozenTrial | None,
    storage: StorageURL,
    wall_s: float,
    skipped,
    baseline_fig: dict,
    final: dict | None = None,
    cv: int = 1,
    fixed: dict[str, str] | None = None,
) -> str:
    counts = {s.name: len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState}
    lines = [
        f"# Study {study.study_name}",
        "",
        f"- storage: {storage}",
        f"- trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed"
        + (f", {counts['RUNNING']} running" if counts["RUNNING"] else ""),
        f"- wall time of this run: {wall_s:.0f} s; sum of trial durations: "
        f"{sum((t.duration.total_seconds() for t in study.trials if t.duration), 0.0):.0f} s",
    ]
    if fixed:
        lines.append(
            "- fixed settings (searched keys override them): " + ", ".join(f"{k}={v}" for k, v in fixed.items())
        )
    if best is None:
        return "\n".join([*lines, "", "No trial has completed yet.", *_baseline_lines(baseline_fig, None)]) + "\n"
    record = TrialRecord.of(best)
    lines += [
        "",
        f"## Best trial: {best.number}",
        "",
        f"- validation macro F1 (the objective): {best.value:.4f}",
        f"- test: precision {record.metric('test_precision'):.4f}, recall {record.metric('test_recall'):.4f}, "
        f"macro F1 {record.metric('test_f1'):.4f}",
        f"- threshold {record.metric('threshold'):.4f}, epochs {record.epochs if record.epochs is not None else '?'}",
        "",
        "| param | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in best.params.items()),
    ]
    lines += _family_lines(study, best)
    lines += _final_lines(best, final, cv)
    lines += _baseline_lines(baseline_fig, best)
    if skipped:
        lines += ["", "Plots skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())]
    return "\n".join(lines) + "\n"


def write_outputs(
    study: optuna.Study,
    output_dir: Path,
    base_args: list[str],
    storage: StorageURL,
    wall_s: float,
    cv: int = 1,
    build_final: bool = True,
) -> list[Path]:
    """Write the outputs; returns the files to attach to the study's tracked record. With cv > 1 best.ckpt
    is the winner refitted (tagger.tune.final), unless build_final is off (a stopped run)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    best = best_trial(study)
    write_atomic(output_dir / "trials.csv", trials_table(study).to_csv(index=False))
    skipped = write_plots(study, output_dir)
    final = None
    if best is not None:
        write_atomic(output_dir / "best.yaml", best_config(base_args, best))
        if cv > 1 and build_final:
            final = refit(best, output_dir)
    export_best_model(best, output_dir)
    report = best_model_report(output_dir)
    base = build(base_args)
    figures = baseline_figures(base.datamodule)
    fixed = fixed_settings(base.config.as_dict())
    write_atomic(output_dir / "summary.md", summary(study, best, storage, wall_s, skipped, figures, final, cv, fixed))
    return [
        *sorted(output_dir.glob("*.html")),
        *output_dir.glob("best.yaml"),
        *([report] if report else []),
        output_dir / "trials.csv",
        output_dir / "summary.md",
    ]
