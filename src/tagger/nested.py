"""Nested cross-validation: what a study adds on projects it never saw.

The projects are cut into K label-stratified outer folds. For each, a whole study runs on the other folds'
projects alone (its own split, folds and hand-over model), the baseline is fitted on the same projects, and
both are scored on the held-out fold: the per-fold difference is tuning's lift on new projects.
"""

import json
import shutil
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import optuna
from sklearn.preprocessing import MultiLabelBinarizer

from tagger import baseline_model as baseline
from tagger.data.datamodule import TaggerDataModule
from tagger.data.dataset import GENERIC_TAGS, LabelMapping, frequent_labels, load_projects, load_tags
from tagger.data.download import PROJECTS, TAGS
from tagger.data.split import stratified_fold
from tagger.evaluation import evaluate
from tagger.loading import load_model
from tagger.tagging import TaggingModel
from tagger.tune.handover import choose, hand_over
from tagger.tune.objectives import Pick
from tagger.tune.options import TuneOptions, shipped
from tagger.tune.record import TrialRecord


@dataclass(frozen=True)
class OuterFold:
    """One outer fold's files: the projects a study may see (a data folder) and the held-out ones."""

    number: int
    inner_dir: Path  # projects.json (the other folds) and tags.json
    held_out: Path  # projects.json of this fold only


@dataclass(frozen=True)
class FoldResult:
    number: int
    held_out: int  # projects scored
    baseline_f1: float
    tuned_f1: float
    start_f1: float  # the space's start trial (trial 0) handed over the same way: the search's own share
    winner: str  # the hand-over model's trial and network
    seconds: float

    @property
    def lift(self) -> float:
        return self.tuned_f1 - self.baseline_f1


def outer_folds(data_dir: Path, folder: Path, k: int, seed: int, min_tag_freq: int = 30) -> list[OuterFold]:
    """Cut projects.json into k folds stratified by the labels fit would use; write each fold's files."""
    projects = load_projects(data_dir / PROJECTS.name)  # repeats dropped, so none lands on both sides
    by_id = {}
    for record in json.loads((data_dir / PROJECTS.name).read_text()):
        by_id.setdefault(record["id"], record)
    records = [by_id[p.id] for p in projects]
    mapping = LabelMapping(load_tags(data_dir / TAGS.name), frozenset(GENERIC_TAGS))
    labels = [mapping(p.tags) for p in projects]
    y = MultiLabelBinarizer(classes=frequent_labels(labels, min_tag_freq)).fit_transform(labels)
    folds = []
    for number in range(k):
        inner, held = stratified_fold(np.arange(len(records)), y, k, number, seed)
        fold = OuterFold(number, folder / f"outer_{number}" / "data", folder / f"outer_{number}" / "held_out.json")
        fold.inner_dir.mkdir(parents=True, exist_ok=True)
        (fold.inner_dir / PROJECTS.name).write_text(json.dumps([records[i] for i in inner]))
        shutil.copyfile(data_dir / TAGS.name, fold.inner_dir / TAGS.name)
        fold.held_out.write_text(json.dumps([records[i] for i in held]))
        folds.append(fold)
    return folds


def score_fold(fold: OuterFold, options: TuneOptions, base_args: list[str]) -> FoldResult:
    """A study on the fold's inner projects, the baseline on the same, both scored on its held-out projects."""
    from tagger.tune.runner import run_study  # Optuna, MLflow: only when a study runs

    start = time.perf_counter()
    out = fold.inner_dir.parent
    options = replace(
        options,
        study_name=f"outer{fold.number}",
        storage=str(out / "optuna.journal"),
        tracking_uri=f"sqlite:///{out}/mlflow.db",
        output_dir=str(out / "study"),
    )
    base_args = [*base_args, "--data.data_dir", str(fold.inner_dir)]
    study = run_study(options, base_args)
    tags = fold.inner_dir / TAGS.name
    tuned = evaluate(load_model(out / "study" / "best.ckpt"), fold.held_out, tags)
    first = tuned  # trial 0, the space's start
    if study.best_trial.number != 0:
        first = evaluate(start_handed_over(study, options.cv, out / "start"), fold.held_out, tags)
    dm = TaggerDataModule(str(fold.inner_dir))
    fitted = baseline.train(dm, C=baseline.DEFAULT_C, threshold_split="val").model
    yardstick = evaluate(fitted, fold.held_out, tags)
    return FoldResult(
        fold.number,
        tuned["num_samples"],
        yardstick["overall"]["f1"],
        tuned["overall"]["f1"],
        first["overall"]["f1"],
        f"trial {study.best_trial.number} ({TrialRecord.of(study.best_trial).family})",
        time.perf_counter() - start,
    )


def start_handed_over(study: optuna.Study, cv: int, folder: Path) -> TaggingModel:
    """The model the study would have handed over had its start trial (trial 0) won: the hand-over's own path
    (best.yaml, its refit, best.ckpt) for that trial, as ``--pick trial=0`` runs it."""
    pick = Pick(trial=0)
    folder.mkdir(parents=True, exist_ok=True)
    hand_over(study, choose(study, pick), pick, folder, cv, build=True)
    return load_model(folder / "best.ckpt")


def summary_line(results: list[FoldResult]) -> str:
    """The benchmark's last line: the lift over the baseline, its sd over the outer folds, the paired wins."""
    lifts = [r.lift for r in results]
    sd = statistics.stdev(lifts) if len(lifts) > 1 else 0.0
    wins = sum(lift > 0 for lift in lifts)
    return f"nested lift={statistics.mean(lifts):+.4f} sd={sd:.4f} wins={wins}/{len(lifts)}"


def default_base_args() -> list[str]:
    return ["--config", shipped("cnn.yaml")]
