"""What a user acts on after a study: trials.csv, best.yaml, the best model, plots and summary.md."""

import os
import shutil
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from tagger.tune.tracking import Tracking, redact

PLOTS = {
    "optimization_history": optuna.visualization.plot_optimization_history,
    "param_importances": optuna.visualization.plot_param_importances,
    "contour": optuna.visualization.plot_contour,
    "parallel_coordinate": optuna.visualization.plot_parallel_coordinate,
    "intermediate_values": optuna.visualization.plot_intermediate_values,
}


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The complete trial with the highest validation F1 (None before the first; study.best_trial raises)."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(completed, key=lambda t: t.value) if completed else None


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """The trials dataframe, best validation F1 first (the seed lesson's table)."""
    table = study.trials_dataframe()
    if table.empty:
        return table
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
        figure.write_html(output_dir / f"{name}.html", include_plotlyjs=True)
    return skipped


def best_config(base_args: list[str], trial: optuna.trial.FrozenTrial) -> str:
    """A complete fit config with the best trial's values, retrainable with `tagger.cli fit --config`."""
    from tagger.tune.objective import build

    cli = build(base_args, trial.params)
    header = (
        f"# Best trial {trial.number} of study; val macro F1 {trial.value:.4f}, "
        f"test macro F1 {trial.user_attrs.get('test_f1', float('nan')):.4f}, "
        f"threshold {trial.user_attrs.get('threshold', float('nan')):.4f} (tuned after fit).\n"
        f"# Retrain: python -m tagger.cli fit --config best.yaml\n"
    )
    return header + cli.parser.dump(cli.config, skip_none=False)


def link_best_model(best: optuna.trial.FrozenTrial | None, output_dir: Path) -> None:
    """best.ckpt is the best trial's model; the models of trials it beat are deleted."""
    models, target = output_dir / "models", output_dir / "best.ckpt"
    source = models / f"trial_{best.number}.ckpt" if best else None
    if source is None or not source.exists():
        return
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)  # no second copy on disk
    except OSError:
        shutil.copyfile(source, target)
    for other in models.glob("*.ckpt"):
        if other != source:
            other.unlink()


def summary(study: optuna.Study, best, storage: str, wall_s: float, skipped: dict[str, str]) -> str:
    counts = {s.name: len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState}
    lines = [
        f"# Study {study.study_name}",
        "",
        f"- storage: {redact(storage)}",
        f"- trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed"
        + (f", {counts['RUNNING']} running" if counts["RUNNING"] else ""),
        f"- wall time of this run: {wall_s:.0f} s; sum of trial durations: "
        f"{sum((t.duration.total_seconds() for t in study.trials if t.duration), 0.0):.0f} s",
    ]
    if best is None:
        return "\n".join([*lines, "", "No trial has completed yet."]) + "\n"
    attrs = best.user_attrs
    lines += [
        "",
        f"## Best trial: {best.number}",
        "",
        f"- validation macro F1 (the objective): {best.value:.4f}",
        f"- test: precision {attrs.get('test_precision', float('nan')):.4f}, "
        f"recall {attrs.get('test_recall', float('nan')):.4f}, "
        f"macro F1 {attrs.get('test_f1', float('nan')):.4f}",
        f"- threshold {attrs.get('threshold', float('nan')):.4f}, epochs {attrs.get('epochs', '?')}",
        "",
        "| param | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in best.params.items()),
    ]
    if skipped:
        lines += ["", "Plots skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())]
    return "\n".join(lines) + "\n"


def write_outputs(
    study: optuna.Study,
    output_dir: Path,
    base_args: list[str],
    tracking: Tracking,
    storage: str,
    wall_s: float,
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    best = best_trial(study)
    table = trials_table(study)
    table.to_csv(output_dir / "trials.csv", index=False)
    skipped = write_plots(study, output_dir)
    if best is not None:
        (output_dir / "best.yaml").write_text(best_config(base_args, best))
    link_best_model(best, output_dir)
    (output_dir / "summary.md").write_text(summary(study, best, storage, wall_s, skipped))
    client, parent = tracking.client, tracking.parent_id
    if parent:
        if best is not None:
            for key, value in best.params.items():  # tags, not params: a resumed study may find a new best
                client.set_tag(parent, f"best.{key}", str(value))
            client.log_metric(parent, "best_value", best.value, step=len(study.trials))
            client.set_tag(parent, "best_trial", str(best.number))
        for path in [
            *sorted(output_dir.glob("*.html")),
            *output_dir.glob("best.yaml"),
            output_dir / "trials.csv",
            output_dir / "summary.md",
        ]:
            client.log_artifact(parent, str(path))
