"""What a running study prints: a line when a trial starts and one when it ends, with k/N, the elapsed
time and an ETA; inside a long trial, a line every half minute (Lightning's and Optuna's own output is quieted
by tune.cli)."""

import time

import lightning.pytorch as L
import optuna
from optuna.trial import FrozenTrial, TrialState

from tagger.tune.record import TrialRecord, pruned_at

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what --n-trials counts
STATES = {  # as a study's counts name them
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
}


def plural(count: int, noun: str) -> str:
    """1 trial, 2 trials, 0 trials."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def so_far(study: optuna.Study) -> str:
    """What a study holds as a run opens it: new, or its trials by state; and the trials queued to run first."""
    trials = study.get_trials(deepcopy=False)
    counts = {state: sum(t.state == state for t in trials) for state in TrialState}
    held = ", ".join(f"{counts[state]} {word}" for state, word in STATES.items() if counts[state])
    queued = counts[TrialState.WAITING]
    text = f"{plural(len(trials) - queued, 'trial')} so far ({held})" if held else "new"
    return text + (f", {plural(queued, 'trial')} queued" if queued else "")


def clock(seconds: float) -> str:
    """1h02m, 3m05s, 42s."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """Lines for one process's trials. The ETA is the finished trials' mean duration times the trials still
    to finish, divided by the trials running now (the workers on the study, wherever they run)."""

    def __init__(self, n_trials: int) -> None:
        self.n_trials = n_trials
        self.start = time.monotonic()

    def _counts(self, study: optuna.Study) -> tuple[int, str]:
        trials = study.get_trials(deepcopy=False)
        finished = [t for t in trials if t.state in FINISHED and t.duration]
        running = max(1, sum(t.state == TrialState.RUNNING for t in trials))
        left = max(0, self.n_trials - len(finished))
        if not finished or not left:
            return len(finished), "ETA -" if left else "done"
        mean = sum(t.duration.total_seconds() for t in finished) / len(finished)
        return len(finished), f"ETA {clock(mean * left / running)}"

    def started(self, study: optuna.Study, trial: optuna.Trial) -> None:
        finished, eta = self._counts(study)
        elapsed = clock(time.monotonic() - self.start)
        print(
            f"trial {trial.number:>3} started | {finished}/{self.n_trials} finished, {elapsed} elapsed, {eta}",
            flush=True,
        )

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna's optimize callback: the trial's outcome, the best so far (the front's size in a
        multi-objective study), k/N, elapsed and ETA."""
        record = TrialRecord.of(trial)
        state = trial.state.name
        if record.rejected:  # never trained: over a --max-* budget
            state, value = "REJECTED", record.rejected
        elif trial.state == TrialState.FAIL:  # the reason in one line, not Optuna's traceback
            reason = "interrupted" if record.interrupted else (record.failed or "?").splitlines()[0][:200]
            value = f"- ({reason})"
        elif trial.state == TrialState.PRUNED:  # the pruner's figure, not the objective's
            figure = record.pruned_on or "the pruner's figure"
            value = f"- ({figure} {at:.4f} when pruned)" if (at := pruned_at(trial)) is not None else "-"
        elif trial.values is None:
            value = "-"
        elif len(trial.values) > 1:
            names = study.metric_names or [f"v{k}" for k in range(len(trial.values))]
            value = " ".join(f"{name}={v:.4g}" for name, v in zip(names, trial.values, strict=True))
        else:
            value = f"{trial.value:.4f}"
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(study.directions) > 1:
            best_text = f"front: {len(study.best_trials)} trials"
        else:
            best_text = f"best={study.best_value:.4f} (trial {study.best_trial.number})" if complete else "best=-"
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        finished, eta = self._counts(study)
        print(
            f"trial {trial.number:>3} {state:<8} value={value} {best_text} "
            f"{clock(seconds)} {'?' if record.epochs is None else record.epochs} epochs | {finished}/{self.n_trials} "
            f"finished, {clock(time.monotonic() - self.start)} elapsed, {eta}",
            flush=True,
        )


class EpochLine(L.Callback):
    """Inside a trial, at most one line per ``every_s`` seconds: its fold, its epoch and the val/ap the pruner
    watches, so a trial of minutes is not silent."""

    def __init__(self, number: int, part: str = "", every_s: float = 30.0) -> None:
        if part.startswith("fold_"):  # counted from 1, as a user reads it
            part = f"fold {int(part.removeprefix('fold_')) + 1}"
        self.where = f"trial {number:>3}{' ' + part if part else ''}"
        self.every_s, self.last = every_s, time.monotonic()

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        ap = trainer.callback_metrics.get("val/ap")
        figure = f" val/ap {float(ap):.4f}" if ap is not None else ""
        print(f"{self.where} epoch {trainer.current_epoch}{figure}", flush=True)
