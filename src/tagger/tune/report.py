"""What a user reads after a study: trials.csv, the Pareto front (pareto.csv), the plots and summary.md. Reports
only: every figure here was measured elsewhere (the trials, the hand-over, the baseline, the noise)."""

import html
import json
import re
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from tagger.files import write_atomic
from tagger.tune.handover import HandOver
from tagger.tune.objective import PRUNING_MONITOR
from tagger.tune.objectives import COST_METRICS
from tagger.tune.overview import few_trials, markdown, opening, to_html
from tagger.tune.record import TrialRecord, pruned_at
from tagger.tune.search_space import Param, searched_keys

PLOTS = {
    "optimization_history": optuna.visualization.plot_optimization_history,
    "param_importances": optuna.visualization.plot_param_importances,
    "contour": optuna.visualization.plot_contour,
    "parallel_coordinate": optuna.visualization.plot_parallel_coordinate,
}
FRONT = "pareto.csv"
PAGE = "report.html"  # every plot, one copy of plotly.js
PRUNED_AT = "pruned_at"  # trials.csv: the pruner's last figure; user_attrs_pruned_on names it


@dataclass
class StudyResult:
    """Everything summary.md reports, measured before it is written."""

    study: optuna.Study
    storage: str  # redacted
    started: float  # when this run began (time.time())
    cv: int
    pick: str
    fixed: dict[str, str]  # the fixed settings of the study's definition
    baseline: dict  # tagger.baseline.yardstick on the study's split
    handover: HandOver | None
    noise: dict | None  # tagger.tune.noise
    space: dict[str, Param]  # the search space the trials ran with
    space_name: str  # --search-space: a shipped space's name or a file


def first(trial: FrozenTrial) -> float:
    """The first objective (validation F1: every study lists it first)."""
    return trial.values[0]


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """The trials dataframe, complete trials first, best first objective first (the seed lesson's table), with
    each trial's family and network; the objective's columns hold the objective only (empty for a pruned trial,
    whose pruner's last figure has its own column); integers are written as integers."""
    trials = study.get_trials(deepcopy=False)
    table = study.trials_dataframe().drop(columns=["user_attrs_config"], errors="ignore")  # see best.yaml
    if table.empty:
        return table
    records = [TrialRecord.of(t) for t in trials]
    table.insert(1, "family", [r.family for r in records])
    table.insert(2, "network", [r.network for r in records])
    values = [c for c in table if c.startswith("value")]  # value_val_f1, or values_val_f1, ... of several
    pruned = table["state"] == TrialState.PRUNED.name
    table.loc[pruned, values] = np.nan  # a study stored before pruned trials kept no value
    table[PRUNED_AT] = [pruned_at(t) for t in trials]
    for column, kind in _integer_columns(trials).items():
        table[column] = table[column].astype(kind)
    complete = table["state"] == TrialState.COMPLETE.name
    return table.assign(_c=complete).sort_values(["_c", values[0]], ascending=False).drop(columns="_c")


def _integer_columns(trials: list[FrozenTrial]) -> dict[str, str]:
    """The params_ and user_attrs_ columns whose every value is an integer: pandas' nullable Int64 (a column with
    an empty cell would be float: `min_df 1.0`)."""
    seen: dict[str, bool] = {}
    for trial in trials:
        for prefix, values in (("params_", trial.params), ("user_attrs_", trial.user_attrs)):
            for key, value in values.items():
                whole = isinstance(value, int) and not isinstance(value, bool)
                seen[prefix + key] = seen.get(prefix + key, True) and whole
    return {column: "Int64" for column, whole in seen.items() if whole}


def front_table(study: optuna.Study) -> pd.DataFrame:
    """The Pareto front (Optuna's study.best_trials), most accurate first: F1, costs, test F1, params."""
    rows = [
        {"number": t.number, "val_f1": first(t)}
        | {metric: t.user_attrs.get(metric) for metric in (*COST_METRICS, "test_f1")}
        | {f"params_{key}": value for key, value in t.params.items()}
        for t in study.best_trials
    ]
    columns = ["number", "val_f1", *COST_METRICS, "test_f1"]
    return pd.DataFrame(rows, columns=None if rows else columns).sort_values("val_f1", ascending=False)


def key_params(study: optuna.Study, best: FrozenTrial | None, most: int = 4) -> list[str]:
    """The handed-over family's parameters that matter most (importance over that family's complete trials): what
    the contour and parallel-coordinate plots show, which a dozen parameters make unreadable."""
    if best is None:
        return []
    family = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if set(t.params) == set(best.params)
    ]
    varying = [p for p in best.params if len({str(t.params[p]) for t in family}) > 1]
    view = optuna.create_study(directions=study.directions)
    view.add_trials(family)
    try:
        return list(optuna.importance.get_param_importances(view, params=varying, target=first))[:most]
    except (ValueError, RuntimeError):  # too few trials to rank them
        return varying[:most]


def cost_params(study: optuna.Study, params: list[str]) -> list[str]:
    """The parameters a cost can depend on: those never seen to differ between two trials of one architecture
    (lr or dropout do; a cost is the architecture's alone)."""
    by_arch: dict[str, list[FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        by_arch.setdefault(trial.user_attrs.get("architecture", str(trial.number)), []).append(trial)
    return [p for p in params if all(len({str(t.params.get(p)) for t in same}) == 1 for same in by_arch.values())]


def figures(study: optuna.Study, best: FrozenTrial | None, per_tag: dict | None) -> tuple[dict, dict[str, str]]:
    """The report's plots by title, and the ones the finished trials cannot support yet, with why. A
    multi-objective study's plots show F1 (a cost's importances: over the parameters it can depend on), plus
    its Pareto front."""
    plots, skipped, key = dict(PLOTS), {}, key_params(study, best)
    for name in ("contour", "parallel_coordinate"):
        plots[name] = partial(plots[name], params=key)
    if len(key) < 2:
        skipped["contour"] = f"{len(key)} parameter varies among the handed-over family's trials"
        del plots["contour"]
    names = study.metric_names or [f"objective {k}" for k in range(len(study.directions))]
    if len(study.directions) > 1:
        plots = {n: partial(p, target=first, target_name=names[0]) for n, p in plots.items()}
        params = list(best.params) if best else []
        for k, name in enumerate(names[1:], start=1):
            plots[f"param_importances ({name})"] = partial(
                optuna.visualization.plot_param_importances, params=cost_params(study, params) or None,
                target=lambda t, k=k: t.values[k], target_name=name,
            )  # fmt: skip
        plots["pareto_front"] = partial(optuna.visualization.plot_pareto_front, target_names=names)
    else:
        plots["intermediate_values"] = optuna.visualization.plot_intermediate_values
    made = {}
    for name, plot in plots.items():
        try:
            made[name] = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            skipped[name] = str(err)
    if "intermediate_values" in made:
        monitors = sorted({on for t in study.trials if (on := TrialRecord.of(t).pruned_on)}) or [PRUNING_MONITOR]
        made["intermediate_values"].update_layout(yaxis_title=f"{' or '.join(monitors)} (what the pruner compares)")
    if "optimization_history" in made and len(study.directions) == 1:
        made["optimization_history"].update_layout(yaxis_title=names[0])
    if per_tag:
        made["per-tag F1 of the model in best.ckpt (test split)"] = per_tag_figure(per_tag)
    return made, skipped


def per_tag_figure(report: dict) -> go.Figure:
    """Per-tag precision, recall and F1 at the model's threshold, worst F1 first: which tags it gets wrong."""
    tags = sorted(report["per_class"], key=lambda tag: report["per_class"][tag]["f1"])
    figure = go.Figure(
        [go.Bar(name=m, x=tags, y=[report["per_class"][t][m] for t in tags]) for m in ("precision", "recall", "f1")]
    )
    return figure.update_layout(barmode="group", yaxis_title="at the model's threshold", xaxis_tickangle=-45)


def write_page(
    made: dict, skipped: dict[str, str], path: Path, title: str, head: str = "", warning: str | None = None
) -> None:
    """One HTML page: ``head`` (the study's overview), then every plot, with one copy of plotly.js (each plot alone
    would carry its 4.8 MB); importances and contours carry ``warning``, if any."""
    parts = [f"<h1>{html.escape(title)}</h1>", head]
    for number, (name, figure) in enumerate(made.items()):
        parts.append(f"<h2>{html.escape(re.sub(r'^[a-z_]+', lambda m: m.group().replace('_', ' '), name))}</h2>")
        if warning and name.startswith(("param_importances", "contour")):
            parts.append(f"<p><strong>Warning: {html.escape(warning)}.</strong></p>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=number == 0))
    if skipped:
        items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in skipped.items())
        parts.append(f"<h2>skipped</h2><ul>{items}</ul>")
    write_atomic(
        path,
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body>{''.join(parts)}</body></html>",
    )


def write_report(result: StudyResult, out: Path) -> list[Path]:
    """trials.csv, pareto.csv (several objectives), plots and summary.md; the files to attach to the study's run."""
    study = result.study
    write_atomic(out / "trials.csv", trials_table(study).to_csv(index=False))
    front = front_table(study) if len(study.directions) > 1 else None
    if front is not None:
        write_atomic(out / FRONT, front.to_csv(index=False))
    per_tag = out / "best_report.json"
    best = result.handover.trial if result.handover else None
    with warnings.catch_warnings():  # Optuna's notes on small studies: the page lists what it skipped, once
        warnings.simplefilter("ignore")
        made, skipped = figures(study, best, json.loads(per_tag.read_text()) if best and per_tag.exists() else None)
    blocks = opening(
        study, result.space, result.space_name, result.handover, result.noise, result.baseline, result.started
    )
    write_page(made, skipped, out / PAGE, f"Study {study.study_name}", to_html(blocks), few_trials(study))
    write_atomic(out / "summary.md", summary(result, front, skipped, markdown(blocks)))
    handed = result.handover.files if result.handover else []
    return [out / PAGE, *handed, *([out / FRONT] if front is not None else []), out / "trials.csv", out / "summary.md"]


def summary(result: StudyResult, front: pd.DataFrame | None, skipped: dict[str, str], head: list[str]) -> str:
    """summary.md: ``head`` (the study's overview), then its counts and settings, the handed-over trial, the noise,
    the model in best.ckpt and the baseline."""
    study, handover = result.study, result.handover
    counts = {s: len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState}
    rejected = sum("rejected" in t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
    running = f", {counts[TrialState.RUNNING]} running" if counts[TrialState.RUNNING] else ""
    durations = sum((t.duration.total_seconds() for t in study.trials if t.duration), 0.0)
    warning, searched = few_trials(study), searched_keys(result.space)
    fixed = {key: value for key, value in result.fixed.items() if key not in searched}
    lines = [
        f"# Study {study.study_name}",
        *head,
        "",
        "## Details",
        "",
        f"- storage: {result.storage}",
        f"- trials: {counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED] - rejected} pruned, {rejected} "
        f"rejected before training (over a --max-* budget), {counts[TrialState.FAIL]} failed{running}; "
        f"sum of their durations {durations:.0f} s",
        "- fixed settings (the keys no trial sets): " + ", ".join(f"{k}={v}" for k, v in fixed.items()),
        f"- plots: [{PAGE}]({PAGE})" + (f"; warning: {warning}" if warning else ""),
    ]
    if front is not None:
        lines += _front_lines(study, front)
    if handover is None:
        return "\n".join([*lines, "", "No trial was handed over: none has completed.", *_baseline(result)]) + "\n"
    best, record = handover.trial, TrialRecord.of(handover.trial)
    heading = "Best trial" if result.pick == "f1" else f"Picked trial (--pick {result.pick})"
    lines += [
        "",
        f"## {heading}: {best.number}",
        "",
        f"- family: {record.family}; network: {record.network}",
        f"- validation macro F1: {first(best):.4f}",
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
    lines += _noise(study, best, result.noise) + _final(handover, result.cv)
    lines += _baseline(result)
    if skipped:
        lines += ["", "Plots skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())]
    return "\n".join(lines) + "\n"


def _noise(study: optuna.Study, best: FrozenTrial, noise: dict | None) -> list[str]:
    """The objective's noise (one config on several fold cuts) beside the spread between the complete trials."""
    if noise is None or noise["trial"] != best.number:
        return []
    values = sorted((first(t) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))), reverse=True)
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    close = sum(first(best) - value <= noise["sd"] for value in values)
    return [
        "",
        "## Objective noise",
        "",
        f"Trial {best.number}'s config on {len(noise['scores'])} cuts of train+val into folds (its own first, then "
        f"--data.cv_seed {', '.join(map(str, noise['cv_seeds']))}): "
        f"{', '.join(f'{s:.4f}' for s in noise['scores'])}; sd {noise['sd']:.4f}.",
        f"The {len(values)} complete trials' values spread sd {spread:.4f}; {close} of them lie within one noise sd "
        "of the best, which this objective cannot tell apart.",
    ]


def _final(handover: HandOver, cv: int) -> list[str]:
    lines = ["", "## The model in best.ckpt", ""]
    if not handover.test:
        return [
            *lines,
            "Not built (the run was stopped); rerun the command, or `python -m tagger.cli fit --config best.yaml`.",
        ]
    test, own = handover.test, TrialRecord.of(handover.trial).metric("test_f1")
    compared = (
        f"For comparison, the mean of its {cv} fold models' probabilities (an ensemble) scored test macro F1 "
        f"{own:.4f} at the out-of-fold threshold."
        if cv > 1
        else f"The trial's own model scored test macro F1 {own:.4f}."
    )
    return [
        *lines,
        f"Trial {handover.trial.number}'s config refitted on {test['train_on']} by `python -m tagger.cli fit --config "
        f"best.yaml` ({test['epochs']} epochs): test precision {test['precision']:.4f}, recall {test['recall']:.4f}, "
        f"macro F1 {test['f1']:.4f}, weighted F1 {test['f1_weighted']:.4f}.",
        compared,
    ]


def _baseline(result: StudyResult) -> list[str]:
    """The baseline's test figures, and the gap of the model handed over."""
    lines, figures = ["", "## Baseline on the same split", ""], result.baseline
    if "error" in figures:
        return [*lines, f"Not fitted: {figures['error']}"]
    overall = figures["overall"]
    lines.append(
        "TF-IDF + logistic regression (`python -m tagger.baseline`), threshold tuned on val: test precision "
        f"{overall['precision']:.4f}, recall {overall['recall']:.4f}, macro F1 {overall['f1']:.4f}, "
        f"weighted F1 {overall['f1_weighted']:.4f}."
    )
    if result.handover and result.handover.test:
        gap = result.handover.test["f1"] - overall["f1"]
        lines.append(f"The test macro F1 of the model in best.ckpt minus the baseline's: {gap:+.4f}.")
    return lines


def _front_lines(study: optuna.Study, front: pd.DataFrame) -> list[str]:
    """The Pareto front as a table, and what the cheapest model on it gives up against the most accurate."""
    names = study.metric_names or []
    lines = ["", f"## Pareto front ({', '.join(names)}): {len(front)} trials, in {FRONT}", ""]
    if front.empty:
        return [*lines, "No trial has completed yet."]
    lines += [
        "No other complete trial is at least as good on every objective and better on one. Costs are measured before "
        "training: CPU, one thread, the first validation texts, median of timed runs (tagger.tune.cost).",
        "",
        "| trial | val F1 | ms/text, batch 1 | ms/text, batch 64 | parameters | model bytes | test F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.number} | {r.val_f1:.4f} | {r.latency_ms:.3f} | {r.latency_ms_b64:.3f} | {int(r.num_params):,} | "
        f"{int(r.size_bytes):,} | {r.test_f1:.4f} |"
        for r in front.itertuples()
    ]
    top = front.iloc[0]
    for metric in names[1:]:
        cheapest = front.sort_values([metric, "val_f1"], ascending=[True, False]).iloc[0]
        if cheapest.number == top.number:
            lines.append(f"\nThe most accurate trial on the front, {int(top.number)}, also has the lowest {metric}.")
            continue
        lines.append(
            f"\nThe lowest {metric} on the front, trial {int(cheapest.number)} ({metric} {cheapest[metric]:.4g}), "
            f"against the most accurate, trial {int(top.number)} ({metric} {top[metric]:.4g}, "
            f"{top[metric] / cheapest[metric]:.1f}x): validation F1 {cheapest.val_f1 - top.val_f1:+.4f}, "
            f"test F1 {cheapest.test_f1 - top.test_f1:+.4f}."
        )
    return lines
