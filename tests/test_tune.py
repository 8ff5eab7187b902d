"""Real studies on the small data (conftest's single_study and cv_study, each run once), shared by many small
assertions on what a study records, hands over and reports; and the mistakes refused before the first trial."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml
from conftest import PruneTrials, tiny_args, tracking_store, tune_options
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tagger import evaluate
from tagger.errors import TaggerError
from tagger.fit_cli import build, cli_main
from tagger.loading import INFERENCE_KEYS, Tagger
from tagger.tune.objective import PRUNING_MONITOR, make_plan
from tagger.tune.objectives import Pick
from tagger.tune.ownership import MARKER, STORAGE_TAG
from tagger.tune.progress import clock
from tagger.tune.record import TrialRecord
from tagger.tune.runner import make_pruner, run_study

SPACE = {"model.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True}}


def runs_by_trial(options):
    client = MlflowClient(options.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(options.study_name).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {int(r.data.tags["optuna.trial_number"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    return parents, children


def copy_of(study, tmp_path):
    """The study's storage, tracking store and outputs copied, to change without touching the shared one."""
    options = study.options
    shutil.copyfile(options.storage.removeprefix("sqlite:///"), tmp_path / "optuna.db")
    shutil.copyfile(options.tracking_uri.removeprefix("sqlite:///"), tmp_path / "mlflow.db")
    shutil.copytree(options.out, tmp_path / "out")
    paths = {"storage": f"sqlite:///{tmp_path}/optuna.db", "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    # the copies hold the same study in another storage: their outputs and experiment record the copy's
    (tmp_path / "out" / MARKER).write_text(json.dumps({"study_name": "t", "storage": paths["storage"]}))
    client = MlflowClient(paths["tracking_uri"])
    client.set_experiment_tag(client.get_experiment_by_name("t").experiment_id, STORAGE_TAG, paths["storage"])
    return replace(options, **paths, output_dir=str(tmp_path / "out"))


# --- the single-split study ------------------------------------------------------------------------------


def test_trials_end_complete_or_pruned_with_validation_f1_as_the_objective(single_study):
    study = single_study.study
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert not [w for w in single_study.warnings if "not in the evaluation logs" in str(w.message)]  # pruning ran
    assert list(study.trials[1].intermediate_values) == [0]  # at its first epoch's report of val/ap
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        assert trial.value == trial.user_attrs["val_f1"]  # test figures are recorded, never the objective
        assert {"test_f1", "test_precision", "test_recall", "threshold", "latency_ms", "num_params"} <= set(
            trial.user_attrs
        )
    assert study.metric_names == ["val_f1"]


def test_each_trial_has_a_closed_run_under_the_study_s_parent_run(single_study):
    study = single_study.study
    (parent,), children = runs_by_trial(single_study.options)
    assert sorted(children) == [0, 1, 2] and parent.info.status == "FINISHED"
    assert parent.data.metrics["best_value"] == study.best_value
    for number, run in children.items():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == study.trials[number].state.name and "model.lr" in run.data.params
    assert "val/loss" in children[0].data.metrics and "final/val_f1" in children[0].data.metrics


def test_the_outputs_say_what_ran_and_what_was_handed_over(single_study):
    out, study = single_study.options.out, single_study.study
    for name in ("trials.csv", "best.yaml", "best.ckpt", "best.json", "best_report.json", "summary.md"):
        assert (out / name).exists(), name
    page = (out / "report.html").read_text()
    assert page.count("plotly.js v") == 1 and not list(out.glob("*.html"))[1:]  # one page, one copy of plotly.js
    pruner_axis = "val\\u002fap (what the pruner compares)"  # plotly's JSON escapes the slash
    for title in ("optimization history", "intermediate values", pruner_axis, "per-tag F1"):
        assert title in page, title
    assert not (out / "pareto.csv").exists() and "[report.html](report.html)" in (out / "summary.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "1 pruned" in summary and "## Baseline on the same split" in summary and "minus the baseline's" in summary
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3 and trials["value_val_f1"].iloc[0] == study.best_value  # best first
    assert (trials[["user_attrs_latency_ms", "user_attrs_num_params"]] > 0).all().all()
    assert json.loads((out / "best.json").read_text())["trial"] == study.best_trial.number
    assert not (out / "trials").exists()  # the trials' checkpoints went with them


def test_best_ckpt_is_the_lean_refit_of_best_yaml_and_retrains_to_the_trial_s_figures(single_study, tmp_path):
    out, best = single_study.options.out, single_study.study.best_trial
    assert set(torch.load(out / "best.ckpt", weights_only=True)) <= set(INFERENCE_KEYS)
    assert yaml.safe_load((out / "best.yaml").read_text())["model"]["lr"] == pytest.approx(best.params["model.lr"])
    refit = cli_main(["fit", "--config", str(out / "best.yaml"), "--trainer.default_root_dir", str(tmp_path)])
    tested = cli_main(["test", "--config", str(out / "best.yaml"), "--ckpt_path", str(out / "best.ckpt")])
    assert tested.model.test_report["overall"]["f1"] == best.user_attrs["test_f1"]  # exactly: seeded, on the CPU
    texts = ["graph neural networks in pytorch", "gans for image generation"]
    retrained = Tagger.load(refit.trainer.checkpoint_callback.best_model_path).predict_proba(texts)
    assert Tagger.load(out / "best.ckpt").predict_proba(texts) == pytest.approx(retrained)
    report = json.loads((out / "best_report.json").read_text())
    for tag, figures in tested.model.test_report["per_class"].items():
        assert report["per_class"][tag] == pytest.approx(figures)


def test_best_json_yaml_and_ckpt_follow_the_pick_together(single_study, tmp_path):
    options = copy_of(single_study, tmp_path)
    for pick in ("trial=2", "trial=0", "f1"):
        run_study(replace(options, pick=Pick.parse(pick)), single_study.args)
        number = json.loads((options.out / "best.json").read_text())["trial"]
        assert number == (single_study.study.best_trial.number if pick == "f1" else int(pick[-1]))
        config = yaml.safe_load((options.out / "best.yaml").read_text())
        assert config["model"]["lr"] == pytest.approx(single_study.study.trials[number].params["model.lr"])
        model = torch.load(options.out / "best.ckpt", weights_only=True)["hyper_parameters"]
        assert model["lr"] == pytest.approx(config["model"]["lr"])
        assert f"{number}" in (options.out / "best.yaml").read_text().splitlines()[0]


def test_a_rerun_with_more_trials_resumes_under_the_same_parent_run(single_study, tmp_path):
    options = replace(copy_of(single_study, tmp_path), n_trials=4)
    (parent,), _ = runs_by_trial(options)
    resumed = run_study(options, single_study.args, pruner=PruneTrials(set()))
    assert len(resumed.trials) == 4 and resumed.trials[3].state == TrialState.COMPLETE
    (same,), children = runs_by_trial(options)
    assert same.info.run_id == parent.info.run_id and len(children) == 4


def test_a_rerun_against_another_tracking_store_names_the_study_s_store(single_study, tmp_path):
    options = replace(copy_of(single_study, tmp_path), n_trials=4)
    other = replace(options, tracking_uri=tracking_store(tmp_path / "other"))
    with pytest.raises(TaggerError, match=r"tracks its runs in sqlite:///\S+/mlflow.db, not in \S+/other/mlflow.db"):
        run_study(other, single_study.args, pruner=PruneTrials(set()))
    assert len(optuna.load_study(study_name=options.study_name, storage=options.storage).trials) == 3


def test_a_refused_rerun_changes_no_output_and_the_summary_shows_what_the_trials_ran_with(single_study, tmp_path):
    options = copy_of(single_study, tmp_path)
    before = {path.name: path.read_bytes() for path in options.out.iterdir() if path.is_file()}
    with pytest.raises(TaggerError, match="--allow-changes"):
        run_study(options, [*single_study.args, "--data.batch_size", "32", "--trainer.max_epochs", "2"])
    assert {path.name: path.read_bytes() for path in options.out.iterdir() if path.is_file()} == before
    fixed = next(line for line in before["summary.md"].decode().splitlines() if "fixed settings" in line)
    assert "data.batch_size=16" in fixed and "trainer.max_epochs=3" in fixed


def test_a_pruned_trial_keeps_the_objective_s_column_empty_and_its_pruner_s_figure_apart(single_study):
    pruned = single_study.study.trials[1]
    assert pruned.state == TrialState.PRUNED and pruned.value is None  # was its val/ap, in the dashboard's plots
    trials = pd.read_csv(single_study.options.out / "trials.csv").set_index("number")
    assert np.isnan(trials.loc[1, "value_val_f1"]) and trials.loc[1, "pruned_at"] == pruned.intermediate_values[0]
    assert trials.loc[1, "user_attrs_pruned_on"] == PRUNING_MONITOR  # a single split's trial: per epoch
    assert trials.loc[[0, 2], "pruned_at"].isna().all()


def test_trials_csv_names_each_trial_s_family_and_network_and_writes_integers_as_integers(single_study):
    text = (single_study.options.out / "trials.csv").read_text()
    trials = pd.read_csv(single_study.options.out / "trials.csv", dtype=str).set_index("number")
    assert list(trials.columns[:2]) == ["family", "network"] and set(trials["family"]) == {"CharCNN"}
    assert set(trials["network"]) == {
        "CharCNN(embedding_dim=8, filter_sizes=[1, 2, 3], num_filters=4, hidden_dim=8) on tokens"
    }
    for column in ("user_attrs_epochs", "user_attrs_num_params", "user_attrs_size_bytes"):
        assert trials[column].str.fullmatch(r"\d+").all(), (column, text)  # 845, not 845.0


def test_the_summary_and_the_page_open_with_the_space_the_families_the_findings_and_the_wall_time(single_study):
    out, study = single_study.options.out, single_study.study
    summary, page = (out / "summary.md").read_text(), (out / "report.html").read_text()
    opening = summary.split("## Details")[0]
    assert "## Search space " in opening and "space.yaml: 2 searched keys" in opening
    assert "| model.lr | float, log | 1e-09 to 0.03 | always |" in opening
    assert "| model.net.dropout_p | float | 0 to 0.5 | always |" in opening
    best = study.best_trial
    assert f"| CharCNN | 2 | 1 | 0 | {best.number} | {best.value:.4f} | +0.0000 |" in opening
    runner_up = max((t for t in study.trials if t.value is not None and t.number != best.number), key=lambda t: t.value)
    margin = f"margin over the runner-up (trial {runner_up.number}), validation F1: {best.value - runner_up.value:+.4f}"
    assert f"winner: trial {best.number}, proposed by the sampler (the space has no start trial)" in opening
    assert margin in opening and "the objective's noise not measured" in opening  # --cv 1
    test = json.loads((out / "best.json").read_text())["test"]
    baseline = study.user_attrs["baseline"]
    gap = f"margin of best.ckpt over the baseline, test macro F1: {test['f1'] - baseline['overall']['f1']:+.4f}, "
    assert gap in opening and f"one sd of the test split's noise ({baseline['test_f1_bootstrap_sd']:.4f}: " in opening
    assert "bootstrap resamples of the" in opening and baseline["test_f1_bootstrap_sd"] > 0
    wall = next(line for line in opening.splitlines() if line.startswith("- wall time: "))
    assert "from the study's start to this report, the refit" in wall and "this run" in wall
    for heading in ("space.yaml: 2 searched keys</h2>", "<h2>Trials by family</h2>", "<h2>What the search found"):
        assert page.index(heading) < page.index("<h2>optimization history</h2>"), heading
    assert page.count("<strong>Warning: only 2 complete trials (fewer than 10)") == 2  # importances, contour
    assert "; warning: only 2 complete trials (fewer than 10): importances and contours from so few" in summary


def test_the_parent_run_holds_the_fixed_settings_and_then_the_handed_over_config(single_study):
    (parent,), _ = runs_by_trial(single_study.options)
    assert parent.data.params["data.batch_size"] == "16" and parent.data.params["trainer.max_epochs"] == "3"
    best = single_study.study.best_trial
    assert parent.data.tags["best.data.features"] == "tokens" and parent.data.tags["best_trial"] == str(best.number)
    assert float(parent.data.tags["best.model.lr"]) == pytest.approx(best.params["model.lr"])


# --- the cross-validated study ----------------------------------------------------------------------------


def test_a_cross_validated_trial_scores_each_fold_at_the_other_folds_threshold(cv_study):
    study = cv_study.study
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert list(study.trials[2].intermediate_values) == [0]  # pruned after its first fold
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        folds = [trial.user_attrs[f"val_f1_fold{k}"] for k in range(2)]
        assert trial.value == pytest.approx(np.mean(folds)) and trial.user_attrs["val_f1_std"] == pytest.approx(
            np.std(folds)
        )
        assert "val_f1_per_tag_thresholds" in trial.user_attrs and "test_f1" in trial.user_attrs
    nets = [yaml.safe_load(t.user_attrs["config"])["model"]["net"] for t in study.trials[:2]]
    assert nets[0]["class_path"] == "tagger.models.cnn.CharCNN" and nets[0]["init_args"]["num_filters"] == 3
    assert nets[1] == {"class_path": "test_network_plugin.MeanBag", "init_args": {"dim": 5}}


def test_the_winner_is_refitted_evaluated_and_registered_once(cv_study, data_dir, capsys):
    out, study = cv_study.options.out, cv_study.study
    record = json.loads((out / "best.json").read_text())
    assert record["trial"] == study.best_trial.number and record["test"]["train_on"] == "train"  # Adam: train only
    model = Tagger.load(out / "best.ckpt")
    evaluate.main(["--json", "--model", str(out / "best.ckpt"), "--projects", str(data_dir / "projects.json")])
    assert set(json.loads(capsys.readouterr().out)["per_class"]) == set(model.classes)
    client = MlflowClient(cv_study.options.tracking_uri)
    (version,) = client.search_model_versions("name='tagger-study'")
    assert version.tags["trial"] == str(study.best_trial.number) and version.tags["study"] == "t"
    assert float(version.tags["val_f1"]) == pytest.approx(study.best_value)
    for name in ("f1", "precision", "recall"):  # best.ckpt's own figures, not the trial's fold ensemble's
        assert float(version.tags[f"test_{name}"]) == pytest.approx(record["test"][name]), name
    assert record["test"]["f1"] != study.best_trial.user_attrs["test_f1"]  # the two differ on this study
    model = Path(client.get_model_version_download_uri("tagger-study", version.version).removeprefix("file://"))
    assert len(list(model.rglob("best.ckpt"))) == 1  # stored once: the logged model the registry refers to ...
    assert "best.ckpt" not in {a.path for a in client.list_artifacts(version.run_id)}  # ... not again on the run
    modified = (out / "best.ckpt").stat().st_mtime_ns
    run_study(cv_study.options, cv_study.args)  # nothing left to run: the same winner keeps its model
    assert (out / "best.ckpt").stat().st_mtime_ns == modified
    assert len(client.search_model_versions("name='tagger-study'")) == 1


def test_the_summary_reports_the_noise_the_families_the_refit_and_the_baseline(cv_study):
    study, summary = cv_study.study, (cv_study.options.out / "summary.md").read_text()
    record = json.loads((cv_study.options.out / "best.json").read_text())
    assert "## Objective noise" in summary and "--data.cv_seed 43" in summary
    assert f"macro F1 {record['test']['f1']:.4f}" in summary and "mean of its 2 fold models" in summary
    loser = min(study.trials[:2], key=lambda t: t.value)
    gap, net = loser.value - study.best_value, loser.params["model.net"]
    pruned = sum(t.state == TrialState.PRUNED and t.params["model.net"] == net for t in study.trials)
    row = f"| {net.rsplit('.', 1)[-1]} | 1 | {pruned} | 0 | {loser.number} | {loser.value:.4f} | {gap:+.4f} |"
    assert "## Trials by family" in summary and row in summary
    noise = study.user_attrs["objective_noise"]
    assert noise["trial"] == study.best_trial.number and len(noise["scores"]) == 2
    wall = next(line for line in summary.splitlines() if line.startswith("- wall time: "))
    assert f"the objective noise {clock(noise['seconds'])} and the refit" in wall  # counted in the study's time
    cuts = f"one sd of the objective's noise ({noise['sd']:.4f}: trial {study.best_trial.number}'s config on 2 cuts"
    assert f"within {cuts}" in summary or f"beyond {cuts}" in summary


# --- smaller studies -------------------------------------------------------------------------------------


def test_the_pruners_stop_a_lagging_trial_after_their_warm_up():
    def reports(trial: optuna.Trial, cv: int) -> float:
        value = 0.1 if trial.number == 3 else 0.5
        for step in range(8 if cv == 1 else cv):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    for cv, (startup, first_step) in {1: (5, 5), 5: (2, 0)}.items():
        study = optuna.create_study(direction="maximize", pruner=make_pruner("median", cv=cv))
        study.optimize(lambda t, cv=cv: reports(t, cv), n_trials=startup + 2)
        lagging = study.trials[3]
        assert (lagging.state == TrialState.PRUNED) == (startup < 4), cv
        if lagging.state == TrialState.PRUNED:
            assert max(lagging.intermediate_values) == first_step
    assert isinstance(make_pruner("median", objectives=2), optuna.pruners.NopPruner)


def test_the_pruning_monitor_is_logged(data_dir, tmp_path):
    cli = build(tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1"))
    cli.trainer.fit(cli.model, cli.datamodule)
    assert PRUNING_MONITOR in cli.trainer.callback_metrics


def test_a_trial_stops_checkpoints_and_lowers_its_rate_on_the_figure_it_is_judged_by(data_dir, tmp_path):
    """configs/cnn.yaml follows its weighted val/loss (the lesson's); its trials follow val/ap, maximised, in their
    config too (what best.yaml refits), and a config without those callbacks gets them on val/ap."""
    from test_cli import monitors

    plan = make_plan(tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1"), {}, "space", check_edges=False)
    cli = build(plan.args({}))
    cli.trainer.fit(cli.model, cli.datamodule)
    assert monitors(cli.trainer) == {(PRUNING_MONITOR, "max")}
    assert PRUNING_MONITOR in cli.trainer.callback_metrics
    config = yaml.safe_load(plan.config_for({}))
    stopping = [cb for cb in config["trainer"]["callbacks"] if cb["class_path"].endswith(("Stopping", "Checkpoint"))]
    assert len(stopping) == 2 and all(cb["init_args"]["monitor"] == PRUNING_MONITOR for cb in stopping)
    assert config["model"]["plateau_monitor"] == PRUNING_MONITOR
    bare = replace(plan, needs_early_stopping=True, needs_checkpoint=True).callbacks()
    assert {(cb.monitor, cb.mode) for cb in bare} == {(PRUNING_MONITOR, "max")} and len(bare) == 2


def test_no_fold_is_scored_at_a_threshold_tuned_on_its_own_predictions():
    """Fold 0 separates perfectly at 0.75, folds 1 and 2 at 0.25: at the others' threshold fold 0 marks its
    negatives (0.5) positive."""
    from tagger.metrics import class_thresholds
    from tagger.tune.objective import out_of_fold_scores

    y = np.array([[1], [0], [1], [0]]).repeat(2, 1)  # two tags that behave alike
    own = np.array([[0.9], [0.5], [0.8], [0.5]]).repeat(2, 1)
    low = np.array([[0.3], [0.1], [0.4], [0.2]]).repeat(2, 1)
    assert out_of_fold_scores([y, y, y], [own, low, low], ["a", "b"])[0] == pytest.approx(2 / 3)
    per_tag = out_of_fold_scores([y, y, y], [own, low, low], ["a", "b"], lambda y, p: class_thresholds(y, p, 1))
    assert per_tag[0] == pytest.approx(2 / 3)  # per-tag thresholds come from the other folds too


class PruneFromStep:
    """A pruner that prunes every trial once it has reported this step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study, trial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.step


def test_a_cross_validated_trial_is_never_pruned_after_its_last_fold(tmp_path):
    """Both folds ran: pruning the trial then saves nothing and loses its out-of-fold F1. The folds' predictions
    are saved already (as for a retried trial), so nothing is fitted here."""
    from types import SimpleNamespace

    from tagger.tune.objective import TrialPlan, cross_validated
    from tagger.tune.record import TrialRecord

    rng = np.random.default_rng(0)
    for fold in range(2):
        (tmp_path / f"fold_{fold}").mkdir()
        y = rng.integers(0, 2, (20, 3))
        p = np.clip(y * 0.6 + rng.random((20, 3)) * 0.5, 0, 1)
        arrays = {"val_p": p, "val_y": y, "test_p": p, "test_y": y, "classes": np.array(["a", "b", "c"])}
        np.savez(tmp_path / f"fold_{fold}" / "predictions.npz", **arrays)
    study = optuna.create_study(direction="maximize", pruner=PruneFromStep(1))
    trial = study.ask()
    run = SimpleNamespace(part_dir=lambda part: tmp_path / part, record=TrialRecord())
    cross_validated(trial, TrialPlan([], {}, parser=None, config={}, cv=2), run, {})
    assert 0 < run.record.metrics["val_f1"] <= 1 and "val_f1_fold1" in run.record.metrics
    with pytest.raises(optuna.TrialPruned, match="after fold 1"):  # before the last fold, it still prunes
        cross_validated(study.ask(), TrialPlan([], {}, parser=None, config={}, cv=3), run, {})


def test_a_cross_validated_trial_reports_the_objective_s_f1_to_the_pruner_not_val_ap(tmp_path):
    """Tags ranked perfectly (val/ap 1) but on different scales: one threshold for all cannot separate them, and the
    pruner must see that poor F1, as the objective will. With val/ap, such trials (per_tag weighting) completed
    and raised the median until the pruner stopped nearly every other trial."""
    from types import SimpleNamespace

    from sklearn.metrics import average_precision_score

    from tagger.tune.objective import FOLD_PRUNING_FIGURE, TrialPlan, cross_validated, own_threshold_f1
    from tagger.tune.record import TrialRecord

    rng = np.random.default_rng(0)
    for fold in range(2):
        (tmp_path / f"fold_{fold}").mkdir()
        y = rng.integers(0, 2, (40, 2))
        p = np.stack([0.6 + 0.3 * y[:, 0], 0.05 + 0.1 * y[:, 1]], axis=1)  # tag b's positives below a's negatives
        arrays = {"val_p": p, "val_y": y, "test_p": p, "test_y": y, "classes": np.array(["a", "b"])}
        np.savez(tmp_path / f"fold_{fold}" / "predictions.npz", **arrays)
    assert average_precision_score(y, p, average="macro") == 1.0
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    run = SimpleNamespace(part_dir=lambda part: tmp_path / part, record=TrialRecord())
    cross_validated(trial, TrialPlan([], {}, parser=None, config={}, cv=2), run, {})
    reported = study.trials[0].intermediate_values
    folds = [dict(np.load(tmp_path / f"fold_{k}" / "predictions.npz")) for k in range(2)]
    assert reported[0] == own_threshold_f1(folds[0]) < 0.9  # val/ap would say 1.0
    assert reported[1] == pytest.approx(np.mean([own_threshold_f1(f) for f in folds]))
    assert FOLD_PRUNING_FIGURE == "val/f1_own_threshold"


def test_a_retried_cross_validated_trial_refits_only_the_folds_it_lacks(data_dir, tmp_path, monkeypatch):
    from tagger.tune import objective
    from tagger.tune.interrupt import TrialInterrupted

    fitted, real = [], objective.fit_fold_of

    def fit_fold_of(plan, run, params, fold, saved):
        fitted.append((run.trial.number, fold))
        if len(fitted) == 2:  # trial 0's second fold: as if Ctrl-C came while it trained
            raise TrialInterrupted("interrupted")
        real(plan, run, params, fold, saved)

    monkeypatch.setattr(objective, "fit_fold_of", fit_fold_of)
    options = tune_options(tmp_path, SPACE, n_trials=1, cv=2, pruner="none")
    study = run_study(options, tiny_args(data_dir, tmp_path))  # an interrupt stops the study after its trial
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]  # and queues its retry
    study = run_study(options, tiny_args(data_dir, tmp_path))  # the rerun resumes it
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[1].user_attrs["retry_of"] == 0 and study.trials[0].user_attrs["interrupted"]
    assert fitted == [(0, 0), (0, 1), (1, 1)]  # the retry kept fold 0's predictions and fitted fold 1 only
    (parent,), children = runs_by_trial(options)
    assert children[0].info.status == "KILLED" and children[1].info.status == "FINISHED"


@pytest.mark.slow
def test_each_network_of_the_networks_space_runs_end_to_end(data_dir, tmp_path):
    """One cross-validated trial per network, at the small end of its sizes: the char-CNN and the hidden-layer
    n-gram network (the default space's families: tests/integration/test_tune_command.py)."""
    options = tune_options(tmp_path, {}, search_space="networks", n_trials=2, cv=2, pruner="none")
    study = optuna.create_study(study_name=options.study_name, storage=options.storage, direction="maximize")
    cnn = {"model.net.embedding_dim": 64, "model.net.num_filters": 64, "model.net.hidden_dim": 64}
    study.enqueue_trial({"model.net": "tagger.models.cnn.CharCNN", **cnn})
    study.enqueue_trial({"model.net": "tagger.models.ngram.NgramNet"})
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1")
    pairs = zip(args[::2], args[1::2], strict=True)
    args = [a for pair in pairs if not pair[0].startswith("--model.net.") for a in pair]  # each network's own sizes
    study = run_study(options, args)
    assert [TrialRecord.of(t).family for t in study.trials] == ["CharCNN", "NgramNet"]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert (options.out / "best.ckpt").exists()


# --- mistakes refused before the first trial --------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"model.nope": {"type": "int", "low": 1, "high": 2}}, "unrecognized arguments: --model.nope"),
        ({"model.net.dropout_p": {"type": "float", "low": 2, "high": 5}}, r"'model\.net\.dropout_p' can take 2\.0"),
        ({"model.net.dropout_p": {"type": "float", "low": 0.1, "high": 5}}, r"'model\.net\.dropout_p' can take 5\.0"),
        ({"model.net.activation": {"type": "categorical", "choices": ["none", "tanh"]}}, r"activation='tanh'"),
        (
            {"data.tfidf.word_ngrams": {"type": "categorical", "choices": [[1, 2], [3, 1]]}},
            r"'data\.tfidf\.word_ngrams' can take '\[3, 1\]'.*not an n-gram range",
        ),
    ],
)
def test_every_value_the_config_rejects_is_found_before_any_trial(data_dir, tmp_path, extra, message):
    options = tune_options(tmp_path, SPACE | extra)
    with pytest.raises(TaggerError, match=message):
        run_study(options, tiny_args(data_dir, tmp_path))
    assert not (tmp_path / "optuna.db").exists() and not options.out.exists()


def test_a_model_name_the_registry_refuses_is_refused_before_any_trial(data_dir, tmp_path):
    options = tune_options(tmp_path, SPACE, register_model="bad/name")
    with pytest.raises(TaggerError, match="--register-model 'bad/name' is not a registered model name"):
        run_study(options, tiny_args(data_dir, tmp_path))
    assert not options.out.exists() and not (tmp_path / "optuna.db").exists()


def test_more_folds_than_every_fold_can_fill_with_each_tag_are_refused(data_dir, tmp_path):
    options = tune_options(tmp_path, SPACE, cv=50)
    with pytest.raises(TaggerError, match=r"--cv 50: the rarest tag, '.+', has \d+ projects in train\+val"):
        run_study(options, tiny_args(data_dir, tmp_path))
    assert not options.out.exists()


@pytest.mark.parametrize("field", ["storage", "tracking_uri"])
def test_an_unreachable_database_fails_before_any_trial_without_its_password(data_dir, tmp_path, field):
    options = replace(tune_options(tmp_path, SPACE), **{field: "postgresql://bob:hunter2@127.0.0.1:1/nowhere"})
    with pytest.raises(TaggerError, match="cannot connect") as err:
        run_study(options, tiny_args(data_dir, tmp_path))
    assert "hunter2" not in str(err.value) and "bob:***@" in str(err.value)


@pytest.mark.parametrize("storage", ["redis://localhost:6379/0", "mongodb://u:pw@h/db"])
def test_an_unusable_storage_is_one_message_and_leaves_nothing_behind(data_dir, tmp_path, storage):
    options = replace(tune_options(tmp_path, SPACE), storage=storage, tracking_uri=f"sqlite:///{tmp_path}/new.db")
    with pytest.raises(TaggerError, match="not a storage"):
        run_study(options, tiny_args(data_dir, tmp_path))
    assert not (tmp_path / "new.db").exists() and not options.out.exists()


def test_a_journal_file_that_cannot_be_written_is_one_message(data_dir, tmp_path):
    (tmp_path / "afile").write_text("")
    options = replace(tune_options(tmp_path, SPACE), storage=f"{tmp_path}/afile/s.journal")
    with pytest.raises(TaggerError, match=r"cannot write the journal file .*afile/s.journal.*--storage"):
        run_study(options, tiny_args(data_dir, tmp_path))


def test_a_truncated_journal_line_is_named_with_the_fix(data_dir, tmp_path):
    journal = tmp_path / "s.journal"
    journal.write_text('{"op_code": 0, "worker_id": "w", "study_name": "t", "directions": [1]}\n{"op_code": 6, "tr')
    with pytest.raises(TaggerError, match=r"truncated line 2.*sed -i"):
        run_study(replace(tune_options(tmp_path, SPACE), storage=f"journal:{journal}"), tiny_args(data_dir, tmp_path))
    assert journal.read_text().endswith('"tr')  # left as it was


@pytest.mark.parametrize("record", ['{"op_code": 99, "worker_id": "w"}', "[6]"])
def test_a_journal_record_optuna_cannot_apply_is_named_with_its_line(data_dir, tmp_path, record):
    journal = tmp_path / "s.journal"
    journal.write_text('{"op_code": 0, "worker_id": "w", "study_name": "t", "directions": [1]}\n' + record + "\n")
    with pytest.raises(TaggerError, match=r"journal file .*s.journal, line 2, is not a record this Optuna"):
        run_study(replace(tune_options(tmp_path, SPACE), storage=f"journal:{journal}"), tiny_args(data_dir, tmp_path))


def test_a_full_disk_under_the_journal_is_one_message_and_the_trials_done_are_kept(
    data_dir, tmp_path, monkeypatch, capsys
):
    """As on a full disk (measured on a 48 KiB tmpfs): a record is cut off where the space ran out, then ENOSPC."""
    import errno

    from optuna.storages.journal import JournalFileBackend
    from test_runner import instant

    journal, append = tmp_path / "s.journal", JournalFileBackend.append_logs

    def append_until_full(self, logs) -> None:
        if journal.stat().st_size < 20_000:  # a trial's records take about 8 KB
            return append(self, logs)
        with journal.open("ab") as f:
            f.write(b'{"op_code": 8, "worker_id": "w", "trial_id": 2, "user_a')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JournalFileBackend, "append_logs", append_until_full)
    options = replace(tune_options(tmp_path, SPACE, n_trials=20), storage=f"journal:{journal}")
    with pytest.raises(TaggerError) as err:
        run_study(options, tiny_args(data_dir, tmp_path), trial_objective=instant)
    message = str(err.value)
    assert f"cannot write the journal file {journal} (No space left on device)" in message
    assert f"sed -i '$ d' {journal}" in message and "rerun the same command" in message
    monkeypatch.undo()
    journal.write_bytes(journal.read_bytes().rsplit(b"\n", 1)[0] + b"\n")  # the fix the message names
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    assert optuna.load_study(study_name="t", storage=storage).get_trials(states=[TrialState.COMPLETE])  # kept


def test_an_unwritable_output_folder_is_refused_before_any_trial(data_dir, tmp_path):
    (tmp_path / "a-file").write_text("")  # not a folder, even for root
    options = replace(tune_options(tmp_path, SPACE), output_dir=str(tmp_path / "a-file" / "out"))
    with pytest.raises(TaggerError, match=r"cannot write to the output folder .*a-file.*--output-dir"):
        run_study(options, tiny_args(data_dir, tmp_path))


def test_outputs_that_cannot_be_written_are_one_message_and_the_trials_are_kept(data_dir, tmp_path):
    from test_runner import instant

    options = tune_options(tmp_path, SPACE, n_trials=1)
    (options.out / "trials.csv").mkdir(parents=True)  # a folder where the file goes: fails even for root
    with pytest.raises(TaggerError, match=r"outputs not written: cannot write .*rerun the same command"):
        run_study(options, tiny_args(data_dir, tmp_path), trial_objective=instant)
    assert len(optuna.load_study(study_name="t", storage=options.storage).get_trials(states=[TrialState.COMPLETE])) == 1
    (parent,), _ = runs_by_trial(options)
    assert parent.info.status == "FINISHED" and not list(options.out.glob("*.part"))


def test_a_study_resumed_from_another_folder_names_both_stores_and_leaves_nothing_there(
    data_dir, tmp_path, monkeypatch
):
    from test_runner import instant

    first, second = tmp_path / "first", tmp_path / "second"
    tracking_store(first)  # ./mlflow.db there
    second.mkdir()
    options = replace(tune_options(tmp_path, SPACE, n_trials=1), tracking_uri="sqlite:///mlflow.db", output_dir=None)
    monkeypatch.chdir(first)
    run_study(options, tiny_args(data_dir, tmp_path), trial_objective=instant)
    monkeypatch.chdir(second)  # the same command, from another folder: its ./mlflow.db is another store
    with pytest.raises(TaggerError) as err:
        run_study(options, tiny_args(data_dir, tmp_path), trial_objective=instant)
    assert f"tracks its runs in sqlite:///{first}/mlflow.db, not in sqlite:///{second}/mlflow.db" in str(err.value)
    assert not list(second.iterdir())  # no mlflow.db, no studies/t/


def test_a_second_study_of_the_same_name_in_another_storage_is_refused_before_any_work(data_dir, tmp_path):
    from test_runner import instant

    options = tune_options(tmp_path, SPACE, n_trials=1)
    run_study(options, tiny_args(data_dir, tmp_path), trial_objective=instant)
    before = {path: path.stat().st_mtime_ns for path in options.out.iterdir()}
    other = replace(options, storage=f"sqlite:///{tmp_path}/other.db")
    with pytest.raises(TaggerError, match=rf"the output folder {options.out} holds study 't' of {options.storage}"):
        run_study(other, tiny_args(data_dir, tmp_path), trial_objective=instant)
    assert {path: path.stat().st_mtime_ns for path in options.out.iterdir()} == before  # nothing rewritten
    assert not (tmp_path / "other.db").exists()
    elsewhere = replace(other, output_dir=str(tmp_path / "elsewhere"))  # its own folder, the same experiment
    with pytest.raises(TaggerError, match=rf"the MLflow experiment 't' .* holds study 't' of {options.storage}"):
        run_study(elsewhere, tiny_args(data_dir, tmp_path), trial_objective=instant)
    (parent,), _ = runs_by_trial(options)  # one study's parent run only
    assert not (tmp_path / "other.db").exists() and not (tmp_path / "elsewhere").exists()


def test_a_study_of_the_same_name_with_another_direction_is_refused(data_dir, tmp_path):
    options = tune_options(tmp_path, SPACE)
    optuna.create_study(study_name="t", storage=options.storage, direction="minimize")
    with pytest.raises(TaggerError, match="exists with other objectives .minimize"):
        run_study(options, tiny_args(data_dir, tmp_path))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_study_without_a_gpu_is_one_message_before_any_trial(data_dir, tmp_path):
    options = replace(tune_options(tmp_path, SPACE), tracking_uri=f"sqlite:///{tmp_path}/new.db")
    with pytest.raises(TaggerError, match="the trainer cannot start.*--trainer.accelerator cpu"):
        run_study(options, [*tiny_args(data_dir, tmp_path), "--trainer.accelerator", "gpu"])
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "new.db").exists()


def test_a_plain_journal_path_is_a_journal_storage(data_dir, tmp_path):
    from test_runner import instant

    options = replace(tune_options(tmp_path, SPACE, n_trials=1), storage=str(tmp_path / "plain.journal"))
    run_study(options, tiny_args(data_dir, tmp_path), trial_objective=instant)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "plain.journal"))
    )
    assert len(optuna.load_study(study_name="t", storage=storage).trials) == 1


def test_a_fresh_tracking_store_is_a_copy_of_a_migrated_one(tmp_path):
    uri = tracking_store(tmp_path / "a")
    assert MlflowClient(uri).search_experiments()[0].name == "Default"
