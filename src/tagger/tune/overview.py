"""The opening of summary.md and report.html: what a study searched (its space, by key, with ranges), what ran
(trials per family), and what it found (the winner, whether the search beat its start trial, its margins beside
the noise that would hide them, the real wall time). Written as blocks that render to Markdown and to HTML."""

import html
import time
from dataclasses import dataclass

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from tagger.tune.handover import HandOver
from tagger.tune.progress import STATES, clock
from tagger.tune.record import TrialRecord
from tagger.tune.search_space import Param

FEW_TRIALS = 10  # complete trials below which importances and contours are read with a warning
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)  # a family's trials by state


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


Block = tuple[str, Table | list[str]]  # a heading, and a table or a list of items under it


def space_rows(space: dict[str, Param], when: str = "always") -> list[list[str]]:
    """One row per key a trial may set: its distribution, range or choices, and the choices it is searched under."""
    rows = []
    for key, param in space.items():
        d = param.distribution
        if isinstance(d, CategoricalDistribution):
            kind, values = ("fixed" if param.fixed else "categorical"), ", ".join(map(str, d.choices))
        else:
            kind = ("float" if isinstance(d, FloatDistribution) else "int") + (", log" if d.log else "")
            kind += f", step {d.step:g}" if d.step not in (None, 1) else ""
            values = f"{d.low:g} to {d.high:g}"
        rows.append([key, kind, values, when])
        for choice, keys in param.when.items():
            rows += space_rows(keys, f"{key}={choice}" if when == "always" else f"{when}, {key}={choice}")
    return rows


def family_rows(study: optuna.Study, best: FrozenTrial | None) -> list[list[str]]:
    """Per family (tagger.tune.record.family): its trials by state, its best complete trial and how far it is
    from the winner."""
    families: dict[str, list[FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False, states=COUNTED):  # not the queued or running ones
        families.setdefault(TrialRecord.of(trial).family, []).append(trial)
    rows = []
    for name, trials in sorted(families.items()):
        counts = [str(sum(t.state == state for t in trials)) for state in COUNTED]
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        top = max(complete, key=lambda t: t.values[0], default=None)
        shown = ["-", "-", "-"]
        if top is not None:
            gap = f"{top.values[0] - best.values[0]:+.4f}" if best else "-"
            shown = [str(top.number), f"{top.values[0]:.4f}", gap]
        rows.append([name, *counts, *shown])
    return rows


def _runner_up(study: optuna.Study, best: FrozenTrial) -> FrozenTrial | None:
    others = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.number != best.number]
    return max(others, key=lambda t: t.values[0], default=None)


def _against(margin: float, sd: float | None, what: str, how: str) -> str:
    """A margin beside the noise that could make it: within or beyond one sd of it."""
    if sd is None:
        return f"{margin:+.4f}; {what} not measured"
    return f"{margin:+.4f}, {'within' if abs(margin) <= sd else 'beyond'} one sd of {what} ({sd:.4f}: {how})"


def findings(
    study: optuna.Study, handover: HandOver | None, noise: dict | None, baseline: dict, started: float
) -> list[str]:
    """The winner and whether it is a start trial, its margins beside the noise, and the real wall time."""
    items = []
    if handover is not None:
        best = handover.trial
        queued = {t.number for t in study.get_trials(deepcopy=False) if "fixed_params" in t.system_attrs}
        if best.number in queued:  # enqueued: a start trial of the space, or one queued by hand
            items.append(f"winner: trial {best.number}, a start trial (queued): the search found nothing better")
        else:
            also = f", better than the {len(queued)} start trials" if queued else " (the space has no start trial)"
            items.append(f"winner: trial {best.number}, proposed by the sampler{also}")
        runner_up, measured = _runner_up(study, best), noise if noise and noise["trial"] == best.number else None
        if runner_up is None:
            items.append("margin over the runner-up: none (one complete trial)")
        else:
            how = f"trial {best.number}'s config on {len(measured['scores'])} cuts into folds" if measured else ""
            margin = _against(
                best.values[0] - runner_up.values[0], measured and measured["sd"], "the objective's noise", how
            )
            items.append(f"margin over the runner-up (trial {runner_up.number}), validation F1: {margin}")
        if handover.test and "overall" in baseline:
            sd, sample = baseline.get("test_f1_bootstrap_sd"), baseline.get("bootstrap", {})
            how = (
                f"the baseline's test macro F1 over {sample.get('resamples')} bootstrap resamples of the "
                f"{sample.get('rows')} test projects"
            )
            margin = _against(handover.test["f1"] - baseline["overall"]["f1"], sd, "the test split's noise", how)
            items.append(f"margin of best.ckpt over the baseline, test macro F1: {margin}")
    items.append(_wall_time(study, handover, noise, started))
    return items


def _wall_time(study: optuna.Study, handover: HandOver | None, noise: dict | None, started: float) -> str:
    """From the study's start (its first trial's, or this run's set-up if earlier) to now, this report: the set-up,
    the trials, the noise and the refit."""
    starts = [t.datetime_start.timestamp() for t in study.get_trials(deepcopy=False) if t.datetime_start]
    now = time.time()  # Optuna's datetimes are local and naive, as .timestamp() reads them
    parts = [f"the objective noise {clock(noise['seconds'])}"] if noise and "seconds" in noise else []
    if handover is not None and "seconds" in handover.test:
        parts.append(f"the refit {clock(handover.test['seconds'])}")
    included = f", {' and '.join(parts)} included" if parts else ""
    return (
        f"wall time: {clock(now - min([*starts, started]))} from the study's start to this report{included}; "
        f"this run {clock(now - started)}"
    )


def opening(
    study: optuna.Study,
    space: dict[str, Param],
    space_name: str,
    handover: HandOver | None,
    noise: dict | None,
    baseline: dict,
    started: float,
) -> list[Block]:
    best, rows = handover.trial if handover else None, space_rows(space)
    searched = sum(kind != "fixed" for _, kind, _, _ in rows)
    header = ["family", *(STATES[state] for state in COUNTED), "best trial", "validation F1", "minus the winner"]
    return [
        (
            f"Search space {space_name}: {searched} searched keys",
            Table(["key", "distribution", "range or choices", "searched when"], rows),
        ),
        ("Trials by family", Table(header, family_rows(study, best))),
        ("What the search found", findings(study, handover, noise, baseline, started)),
    ]


def few_trials(study: optuna.Study) -> str | None:
    """The warning importances and contours carry when too few trials completed to read them."""
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if complete >= FEW_TRIALS:
        return None
    return (
        f"only {complete} complete trials (fewer than {FEW_TRIALS}): importances and contours from so few are "
        "mostly noise; do not read a ranking or a shape into them"
    )


def markdown(blocks: list[Block]) -> list[str]:
    lines = []
    for heading, body in blocks:
        lines += ["", f"## {heading}", ""]
        if isinstance(body, Table):
            lines += ["| " + " | ".join(body.header) + " |", "|" + "---|" * len(body.header)]
            lines += ["| " + " | ".join(row) + " |" for row in body.rows]
        else:
            lines += [f"- {item}" for item in body]
    return lines


def _cells(row: list[str], tag: str) -> str:
    return "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in row)


def to_html(blocks: list[Block]) -> str:
    parts = []
    for heading, body in blocks:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, Table):
            rows = "".join(f"<tr>{_cells(row, 'td')}</tr>" for row in body.rows)
            parts.append(f"<table><tr>{_cells(body.header, 'th')}</tr>{rows}</table>")
        else:
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in body) + "</ul>")
    return "".join(parts)
