"""Nested cross-validation: the outer folds partition the projects, and no held-out project reaches the study."""

import hashlib
import json
from dataclasses import replace

import pytest
import yaml
from conftest import tiny_args, tune_options
from mlflow.tracking import MlflowClient

from tagger.fit_cli import build
from tagger.nested import OuterFold, outer_folds, score_fold, summary_line


def held_out_texts_seen(fold: OuterFold, base_args: list[str]) -> set[str]:
    """The held-out projects' cleaned texts found in the corpus a study on this fold builds from its arguments."""
    dm = build([*base_args, "--data.data_dir", str(fold.inner_dir)]).datamodule
    held = {dm.cleaning(p["title"] + " " + p["description"]) for p in json.loads(fold.held_out.read_text())}
    return held & set(dm.corpus.texts)


def test_outer_folds_partition_the_projects_and_no_held_out_project_reaches_the_study(data_dir, tmp_path):
    folds = outer_folds(data_dir, tmp_path, k=3, seed=0, min_tag_freq=10)
    everyone = {p["id"] for p in json.loads((data_dir / "projects.json").read_text())}
    held_ids = []
    for fold in folds:
        inner = {p["id"] for p in json.loads((fold.inner_dir / "projects.json").read_text())}
        held = {p["id"] for p in json.loads(fold.held_out.read_text())}
        assert not inner & held and inner | held == everyone
        held_ids.append(held)
    assert sum(map(len, held_ids)) == len(everyone)  # each project held out exactly once

    base_args = tiny_args(data_dir, tmp_path)  # the study's own --data.data_dir (the full data) comes first
    assert not held_out_texts_seen(folds[0], base_args)
    # the check itself sees a leak: one held-out project copied into the fold's inner data
    inner_file = folds[0].inner_dir / "projects.json"
    leaked = json.loads(folds[0].held_out.read_text())[:1]
    inner_file.write_text(json.dumps(json.loads(inner_file.read_text()) + leaked))
    assert len(held_out_texts_seen(folds[0], base_args)) == 1


def test_repeated_projects_are_cut_once(data_dir, tmp_path):
    records = json.loads((data_dir / "projects.json").read_text())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "projects.json").write_text(json.dumps(records + records[:5]))
    (tmp_path / "data" / "tags.json").write_text((data_dir / "tags.json").read_text())
    folds = outer_folds(tmp_path / "data", tmp_path / "nested", k=2, seed=0, min_tag_freq=10)
    held = [p["id"] for fold in folds for p in json.loads(fold.held_out.read_text())]
    assert sorted(held) == sorted(p["id"] for p in records)


@pytest.mark.slow
def test_a_fold_runs_a_study_on_its_inner_projects_only_and_scores_both_models(data_dir, tmp_path):
    (fold, *_) = outer_folds(data_dir, tmp_path / "folds", k=3, seed=0, min_tag_freq=10)
    space = {"model.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    options = replace(tune_options(tmp_path, space), n_trials=1, cv=2, noise_repeats=0)
    result = score_fold(fold, options, tiny_args(data_dir, tmp_path, "--data.min_tag_freq", "10"))
    assert result.held_out > 0 and 0 < result.baseline_f1 <= 1 and 0 < result.tuned_f1 <= 1
    assert summary_line([result]) == f"nested lift={result.lift:+.4f} sd=0.0000 wins={int(result.lift > 0)}/1"
    # every run of the inner study recorded the inner projects file's hash, not the full data's
    inner_sha = hashlib.sha256((fold.inner_dir / "projects.json").read_bytes()).hexdigest()
    client = MlflowClient(f"sqlite:///{fold.inner_dir.parent}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("outer0").experiment_id])
    assert runs and {r.data.tags["data.projects.json.sha256"] for r in runs} == {inner_sha}


@pytest.mark.slow
def test_a_fold_whose_winner_is_not_the_start_trial_hands_the_start_trial_over_too(data_dir, tmp_path):
    """The search's own share needs the start trial's model refitted; trial 0 cannot win here: at threshold 0.999
    it tags nothing (F1 0), while trial 1 tags at 0.01."""
    (fold, *_) = outer_folds(data_dir, tmp_path / "folds", k=3, seed=0, min_tag_freq=10)
    space = {
        "start": [{"threshold.value": 0.999}, {"threshold.value": 0.01}],
        "threshold.value": {"type": "float", "low": 0.01, "high": 0.999},
    }
    options = replace(tune_options(tmp_path, space), n_trials=2)
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2")
    result = score_fold(fold, options, args)
    assert result.winner == "trial 1 (CharCNN)"  # its family named as trials.csv names it (was "?")
    assert result.start_f1 == 0 < result.tuned_f1
    start = yaml.safe_load((fold.inner_dir.parent / "start" / "best.yaml").read_text())
    assert start["threshold"]["value"] == 0.999  # trial 0's own config, refitted
