"""What a user acts on after a study: trials.csv, best.yaml, the best model, plots and summary.md; and for a
multi-objective study its Pareto front (pareto.csv, pareto_front.html, a table in summary.md)."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
import yaml
from optuna.trial import FrozenTrial, TrialState

from tagger import baseline
from tagger.cli import build
from tagger.data.datamodule import TaggerDataModule
from tagger.errors import TaggerError
from tagger.lineage import fixed_settings
from tagger.loading import Tagger, save_lean
from tagger.metrics import classification_report
from tagger.tune.final import final_settings, refit
from tagger.tune.objectives import COST_METRICS
from tagger.tune.record import TrialRecord, f1, is_multi_objective
from tagger.tune.search_space import to_cli_args
from tagger.tune.storage import StorageURL

PLOTS = {
    "optimization_history": optuna.visualization.plot_optimization_history,
    "param_importances": optuna.visualization.plot_param_importances,
    "contour": optuna.visualization.plot_contour,
    "parallel_coordinate": optuna.visualization.plot_parallel_coordinate,
}
FRONT = "pareto.csv"


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
    # A multi-objective study's columns are values_<metric>, validation F1 first.
    complete = table["state"] == TrialState.COMPLETE.name
    f1_column = "value" if "value" in table else next(c for c in table if c.startswith("values_"))
    return (
        table.assign(_complete=complete)
        .sort_values(["_complete", f1_column], ascending=False)
        .drop(columns="_complete")
    )


def front_table(study: optuna.Study) -> pd.DataFrame:
    """The Pareto front (optuna's study.best_trials), most accurate first: F1, costs, test F1, params."""
    rows = []
    for trial in study.best_trials:
        attrs = trial.user_attrs
        rows.append(
            {"number": trial.number, "val_f1": f1(trial)}
            | {metric: attrs.get(metric) for metric in COST_METRICS}
            | {"test_f1": attrs.get("test_f1")}
            | {f"params_{key}": value for key, value in trial.params.items()}
        )
    return pd.DataFrame(rows).sort_values("val_f1", ascending=False) if rows else pd.DataFrame()


def write_plots(study: optuna.Study, output_dir: Path) -> dict[str, str]:
    """Self-contained HTML plots; a plot that the finished trials cannot support yet is skipped with why. A
    multi-objective study's plots show validation F1, plus the Pareto front (no intermediate values: its
    trials are not pruned, so they report none)."""
    skipped = {}
    plots = dict(PLOTS)
    if is_multi_objective(study):
        names = study.metric_names or [f"objective {k}" for k in range(len(study.directions))]
        plots = {  # importances are computed for each objective, in its own direction; the rest show F1
            name: plot if name == "param_importances" else partial(plot, target=f1, target_name=names[0])
            for name, plot in plots.items()
        }
        plots["pareto_front"] = partial(optuna.visualization.plot_pareto_front, target_names=names)
    else:
        plots["intermediate_values"] = optuna.visualization.plot_intermediate_values
    for name, plot in plots.items():
        try:
            figure = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            skipped[name] = str(err)
            continue
        write_atomic(output_dir / f"{name}.html", figure.to_html(include_plotlyjs=True))
    return skipped


def best_config(base_args: list[str], trial: FrozenTrial, cv: int = 1) -> str:
    """The best trial's own full config, with what the final model changes in it (tagger.tune.final):
    retrainable with `tagger.cli fit --config`. Trials of studies run before trials stored their config are
    rebuilt from this command's config and the trial's params."""
    record = TrialRecord.of(trial)
    if record.config is None:
        cli = build([*base_args, *to_cli_args(trial.params)])
        record.config = cli.parser.dump(cli.config, skip_none=False)
    config = yaml.safe_load(record.config)
    for section, values in final_settings(config, cv, record.metric("threshold")).items():
        config.setdefault(section, {}).update(values)
    header = (
        f"# Best trial {trial.number} of study; val macro F1 {f1(trial):.4f}, "
        f"test macro F1 {record.metric('test_f1'):.4f}, "
        f"threshold {record.metric('threshold'):.4f} (tuned after fit).\n"
        f"# Retrain: python -m tagger.cli fit --config best.yaml\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def own_model(best: FrozenTrial, output_dir: Path) -> Path | None:
    """The trial's own model file, kept by a single-split single-objective study for the best trial so far."""
    source = output_dir / "models" / f"trial_{best.number}.ckpt"
    return source if source.exists() else None


def export_best_model(best: FrozenTrial, output_dir: Path) -> None:
    """best.ckpt is the inference part of the trial's own model (tagger.loading.save_lean); the full
    checkpoint stays in models/, the models of trials it beat are deleted."""
    source = own_model(best, output_dir)
    save_lean(source, output_dir / "best.ckpt")
    for other in (output_dir / "models").glob("*.ckpt"):
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


def _baseline_lines(figures: dict, best: FrozenTrial | None, final: dict | None = None) -> list[str]:
    """The baseline's test figures, and the gap of the model handed over (the refit, when there is one)."""
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
        handed_over = final["f1"] if final else TrialRecord.of(best).metric("test_f1")
        lines.append(
            f"The test macro F1 of the model in best.ckpt minus the baseline's: {handed_over - overall['f1']:+.4f}."
        )
    return lines


def _noise_lines(study: optuna.Study, best: FrozenTrial, noise: dict | None) -> list[str]:
    """The objective's noise (one config on several fold cuts) beside the spread between the complete trials."""
    if noise is None or noise["trial"] != best.number:
        return []
    values = sorted((f1(t) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))), reverse=True)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    close = sum(f1(best) - value <= noise["sd"] for value in values)
    scores = ", ".join(f"{score:.4f}" for score in noise["scores"])
    return [
        "",
        "## Objective noise",
        "",
        f"Trial {best.number}'s config on {len(noise['scores'])} cuts of train+val into folds (its own first, then "
        f"--data.cv_seed {', '.join(map(str, noise['cv_seeds']))}): {scores}; sd {noise['sd']:.4f}.",
        f"The {len(values)} complete trials' values spread sd {spread:.4f}; {close} of them lie within one noise sd "
        f"of the best, which this objective cannot tell apart.",
    ]


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
        "| family | trials | best trial | validation F1 | minus the winner |",
        "|---|---|---|---|---|",
    ]
    for family in families:
        trials = [t for t in complete if t.params["model.net"] == family]
        top = max(trials, key=f1)
        gap = f1(top) - f1(best)
        lines.append(f"| {family} | {len(trials)} | {top.number} | {f1(top):.4f} | {gap:+.4f} |")
    return lines


def _final_lines(best: FrozenTrial, final: dict | None, cv: int) -> list[str]:
    """best.ckpt is the trial's own model (final is None, built), or its config refitted (final: its figures)."""
    lines = ["", "## The model in best.ckpt", ""]
    if final is None:
        return [*lines, f"Trial {best.number}'s own model (the figures above)."]
    if not final:
        return [
            *lines,
            "Not built (the run was stopped); rerun the command, or `python -m tagger.cli fit --config best.yaml`.",
        ]
    own = TrialRecord.of(best).metric("test_f1")
    compared = (
        f"For comparison, the mean of its {cv} fold models' probabilities (an ensemble) scored test macro F1 "
        f"{own:.4f} at the out-of-fold threshold."
        if cv > 1
        else f"The trial's own model, which the study did not keep, scored test macro F1 {own:.4f}."
    )
    return [
        *lines,
        f"Trial {best.number}'s config refitted on {final.get('train_on', 'train')} by "
        "`python -m tagger.cli fit --config best.yaml` "
        f"({final['epochs']} epochs): test precision {final['precision']:.4f}, recall {final['recall']:.4f}, "
        f"macro F1 {final['f1']:.4f}, weighted F1 {final['f1_weighted']:.4f}.",
        compared,
    ]


def _front_lines(study: optuna.Study, front: pd.DataFrame) -> list[str]:
    """The Pareto front as a table, and what the cheapest model on it gives up against the most accurate."""
    names = study.metric_names or []
    lines = [
        "",
        f"## Pareto front ({', '.join(names)}): {len(front)} trials, in {FRONT}",
        "",
        "No other complete trial is at least as good on every objective and better on one. Costs are measured before "
        "training: CPU, one thread, the first validation texts, median of timed runs (tagger.tune.cost).",
        "",
        "| trial | val F1 | ms/text, batch 1 | ms/text, batch 64 | parameters | model bytes | test F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    if front.empty:
        return [*lines[:2], "No trial has completed yet."]
    for row in front.itertuples():
        lines.append(
            f"| {row.number} | {row.val_f1:.4f} | {row.latency_ms:.3f} | {row.latency_ms_b64:.3f} | "
            f"{int(row.num_params):,} | {int(row.size_bytes):,} | {row.test_f1:.4f} |"
        )
    top = front.iloc[0]
    for metric in names[1:]:
        cheapest = front.sort_values([metric, "val_f1"], ascending=[True, False]).iloc[0]
        if cheapest.number == top.number:
            lines.append(f"\nThe most accurate trial on the front, {int(top.number)}, also has the lowest {metric}.")
            continue
        val_gap, test_gap = cheapest.val_f1 - top.val_f1, cheapest.test_f1 - top.test_f1
        lines.append(
            f"\nThe lowest {metric} on the front, trial {int(cheapest.number)} ({metric} {cheapest[metric]:.4g}), "
            f"against the most accurate, trial {int(top.number)} ({metric} {top[metric]:.4g}, "
            f"{top[metric] / cheapest[metric]:.1f}x): validation F1 {val_gap:+.4f}, test F1 {test_gap:+.4f}."
        )
    return lines


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
    pick: str = "f1",
    front: pd.DataFrame | None = None,
    noise: dict | None = None,
) -> str:
    """final: the refit's test figures, {} when it was not built, None when best.ckpt is the trial's own."""
    counts = {s.name: len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState}
    rejected = sum("rejected" in t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
    lines = [
        f"# Study {study.study_name}",
        "",
        f"- storage: {storage}",
        f"- trials: {counts['COMPLETE']} complete, {counts['PRUNED'] - rejected} pruned, "
        f"{rejected} rejected before training (over a --max-* budget), {counts['FAIL']} failed"
        + (f", {counts['RUNNING']} running" if counts["RUNNING"] else ""),
        f"- wall time of this run: {wall_s:.0f} s; sum of trial durations: "
        f"{sum((t.duration.total_seconds() for t in study.trials if t.duration), 0.0):.0f} s",
    ]
    if fixed:
        lines.append(
            "- fixed settings (searched keys override them): " + ", ".join(f"{k}={v}" for k, v in fixed.items())
        )
    if front is not None:
        lines += _front_lines(study, front)
    if best is None:
        return "\n".join([*lines, "", "No trial has completed yet.", *_baseline_lines(baseline_fig, None)]) + "\n"
    record = TrialRecord.of(best)
    heading = f"## Best trial: {best.number}" if pick == "f1" else f"## Picked trial (--pick {pick}): {best.number}"
    lines += [
        "",
        heading,
        "",
        f"- validation macro F1: {f1(best):.4f}",
        f"- test: precision {record.metric('test_precision'):.4f}, recall {record.metric('test_recall'):.4f}, "
        f"macro F1 {record.metric('test_f1'):.4f}",
        f"- threshold {record.metric('threshold'):.4f}, epochs {record.epochs if record.epochs is not None else '?'}",
        f"- cost: {record.metric('latency_ms'):.3f} ms/text at batch 1, {record.metric('latency_ms_b64'):.3f} at "
        f"batch 64 (CPU, one thread), {record.metric('num_params'):,.0f} parameters, "
        f"{record.metric('size_bytes'):,.0f} bytes",
        "",
        "| param | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in best.params.items()),
    ]
    lines += _noise_lines(study, best, noise)
    lines += _family_lines(study, best)
    lines += _final_lines(best, final, cv)
    lines += _baseline_lines(baseline_fig, best, final)
    if skipped:
        lines += ["", "Plots skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())]
    return "\n".join(lines) + "\n"


def write_outputs(
    study: optuna.Study,
    best: FrozenTrial | None,
    output_dir: Path,
    base_args: list[str],
    storage: StorageURL,
    wall_s: float,
    cv: int = 1,
    build_final: bool = True,
    pick: str = "f1",
    noise: dict | None = None,
) -> list[Path]:
    """Write the outputs for ``best`` (the picked trial); returns the files to attach to the study's tracked
    record. best.ckpt is the trial's own model when the study kept it (a single split, single objective),
    else its config refitted (tagger.tune.final), unless build_final is off (a stopped run)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(output_dir / "trials.csv", trials_table(study).to_csv(index=False))
    front = None
    if is_multi_objective(study):
        front = front_table(study)
        write_atomic(output_dir / FRONT, front.to_csv(index=False))
    skipped = write_plots(study, output_dir)
    final = None
    if best is not None:
        write_atomic(output_dir / "best.yaml", best_config(base_args, best, cv))
        if cv == 1 and own_model(best, output_dir):
            export_best_model(best, output_dir)
        else:
            final = refit(best, output_dir) if build_final else {}
    report = best_model_report(output_dir)
    base = build(base_args)
    figures = baseline_figures(base.datamodule)
    fixed = fixed_settings(base.config.as_dict())
    text = summary(study, best, storage, wall_s, skipped, figures, final, cv, fixed, pick, front, noise)
    write_atomic(output_dir / "summary.md", text)
    return [
        *sorted(output_dir.glob("*.html")),
        *output_dir.glob("best.yaml"),
        *([report] if report else []),
        *([output_dir / FRONT] if front is not None else []),
        output_dir / "trials.csv",
        output_dir / "summary.md",
    ]
