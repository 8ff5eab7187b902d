"""Accuracy against cost: multi-objective studies, their Pareto front, budgets that reject a model before it
trains, and picking or exporting one trial. Tiny models on the small real data."""

import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest
import torch
from conftest import tiny_args, tracking_store, tune_options
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tagger.errors import TaggerError
from tagger.fit_cli import build
from tagger.loading import Tagger, save_lean
from tagger.tune.cost import architecture, measure
from tagger.tune.objectives import Pick
from tagger.tune.runner import run_study

# Two sizes run first (a small and a large hidden layer), then the sampler's choices.
SPACE = {
    "start": [{"model.net.hidden_dim": 8, "model.lr": 0.01}, {"model.net.hidden_dim": 256, "model.lr": 0.01}],
    "model.net.hidden_dim": {"type": "categorical", "choices": [8, 256]},
    "model.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
}


@pytest.fixture
def options(tmp_path):
    return tune_options(
        tmp_path, SPACE, study_name="mo", storage=f"{tmp_path}/optuna.journal", objectives=("f1", "latency")
    )


@pytest.fixture
def base_args(data_dir, tmp_path):
    return tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "2")


@pytest.fixture(scope="module")
def mo_study(data_dir, tmp_path_factory):
    """One real multi-objective study (F1 against latency): a small and a large model first, then one more."""
    root = tmp_path_factory.mktemp("mo")
    options = tune_options(root, SPACE, study_name="mo", storage=f"{root}/optuna.journal", objectives=("f1", "latency"))
    args = tiny_args(data_dir, root, "--trainer.max_epochs", "2")
    return run_study(options, args), options, args


def dominates(a: pd.Series, b: pd.Series) -> bool:
    """a is at least as good as b on both objectives (F1 up, latency down) and better on one."""
    at_least = a.values_val_f1 >= b.val_f1 and a.values_latency_ms <= b.latency_ms
    return at_least and (a.values_val_f1 > b.val_f1 or a.values_latency_ms < b.latency_ms)


def test_a_multi_objective_study_writes_a_front_that_trials_csv_agrees_with(mo_study):
    study, options, _ = mo_study
    out = options.out
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_f1", "latency_ms"]
    front, trials = pd.read_csv(out / "pareto.csv"), pd.read_csv(out / "trials.csv")
    assert len(front) >= 1 and set(front.number) == {t.number for t in study.best_trials}
    assert (trials.state == "COMPLETE").sum() == 3  # nothing pruned: Optuna prunes single-objective studies only
    by_number = trials.set_index("number")
    for row in front.itertuples():
        listed = by_number.loc[row.number]
        assert listed.values_val_f1 == row.val_f1 and listed.values_latency_ms == row.latency_ms
        assert listed.user_attrs_num_params == row.num_params and listed.user_attrs_test_f1 == row.test_f1
    complete = trials[trials.state == "COMPLETE"]
    assert not any(dominates(t, f) for _, f in front.iterrows() for _, t in complete.iterrows())
    # the two sizes cost differently; a third trial repeats one of them and takes its costs (timed once)
    small, large, third = (by_number.loc[n] for n in (0, 1, 2))
    assert small.user_attrs_num_params < large.user_attrs_num_params
    assert small.user_attrs_size_bytes < large.user_attrs_size_bytes
    twin, other = (small, large) if third["params_model.net.hidden_dim"] == 8 else (large, small)
    assert third.user_attrs_architecture == twin.user_attrs_architecture != other.user_attrs_architecture
    assert third.values_latency_ms == twin.values_latency_ms


def test_the_front_is_in_the_summary_the_hand_over_and_mlflow(mo_study):
    study, options, _ = mo_study
    out, front = options.out, pd.read_csv(options.out / "pareto.csv")
    by_number = pd.read_csv(out / "trials.csv").set_index("number")
    summary = (out / "summary.md").read_text()
    assert "## Pareto front (val_f1, latency_ms)" in summary
    page = (out / "report.html").read_text()
    assert "<h2>pareto front</h2>" in page and "<h2>param importances (latency_ms)</h2>" in page
    most_accurate = int(front.number.iloc[0])
    assert f"# Best trial {most_accurate} of study" in (out / "best.yaml").read_text()
    assert json.loads((out / "best.json").read_text())["trial"] == most_accurate  # refitted: no trial model kept
    assert Tagger.load(out / "best.ckpt").classes

    client = MlflowClient(options.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("mo").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.tags["pareto_front"] == ",".join(map(str, sorted(front.number)))
    assert "pareto.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    for run in runs:
        if run is not parent:
            number = int(run.data.tags["optuna.trial_number"])
            assert run.data.metrics["final/latency_ms"] == by_number.loc[number].values_latency_ms


def test_the_same_command_with_pick_trial_n_hands_over_that_trial_without_a_new_trial(mo_study):
    study, options, base_args = mo_study
    out = options.out
    other = next(t.number for t in study.trials if t.number != int(pd.read_csv(out / "pareto.csv").number.iloc[0]))
    assert len(run_study(replace(options, pick=Pick(trial=other)), base_args).trials) == 3
    assert f"# Trial picked by --pick trial={other}: {other} of study" in (out / "best.yaml").read_text()
    assert json.loads((out / "best.json").read_text())["trial"] == other
    assert f"## Picked trial (--pick trial={other}): {other}" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_a_model_over_budget_is_rejected_before_it_trains(options, base_args):
    small = build([*base_args, "--model.net.hidden_dim", "8"]).model
    options.objectives, options.n_trials = ("f1",), 2
    options.max_params = sum(p.numel() for p in small.parameters())  # the small model fits, the large does not
    fitted, rejected = run_study(options, base_args).trials
    assert fitted.state == TrialState.COMPLETE and fitted.user_attrs["epochs"] == 2
    assert rejected.state == TrialState.PRUNED and "epochs" not in rejected.user_attrs  # never trained
    assert rejected.user_attrs["rejected"].startswith("over budget: num_params")
    assert rejected.constraints["num_params"] > 0 >= fitted.constraints["num_params"]  # what the sampler reads
    assert "1 rejected before training" in (options.out / "summary.md").read_text()
    client = MlflowClient(options.tracking_uri)
    run = client.get_run(rejected.user_attrs["mlflow_run_id"])
    assert run.data.tags["tagger.rejected"] == rejected.user_attrs["rejected"] and run.info.status == "FINISHED"


def test_a_study_reopened_with_other_objectives_is_refused_even_with_allow_changes(mo_study, tmp_path):
    _, options, base_args = mo_study
    shutil.copyfile(options.storage, tmp_path / "optuna.journal")
    size = replace(options, storage=str(tmp_path / "optuna.journal"), objectives=("f1", "size"), allow_changes=True)
    size = replace(size, tracking_uri=tracking_store(tmp_path))  # a copy of the study is another study's store
    with pytest.raises(TaggerError, match="exists with other objectives .*this run asks for maximize/minimize"):
        run_study(replace(size, output_dir=str(tmp_path / "out")), base_args)


def test_costs_are_the_model_s_own(trained):
    cli, checkpoint = trained
    threads = torch.get_num_threads()
    cost = measure(cli)
    assert cost["num_params"] == sum(p.numel() for p in cli.model.parameters())
    assert cost["latency_ms"] > 0 and cost["latency_ms_b64"] > 0
    lean = checkpoint.with_name("lean.ckpt")
    save_lean(checkpoint, lean)
    assert abs(cost["size_bytes"] - lean.stat().st_size) < 1024  # the zip entries are named after the file
    assert torch.get_num_threads() == threads


def test_an_architecture_is_what_serving_costs_depend_on(base_args):
    def arch(*extra: str) -> str:
        return architecture(build([*base_args, *extra]))

    same = arch()
    assert arch("--model.net.dropout_p", "0.1", "--model.lr", "0.01") == same  # inactive at inference, or training
    assert arch("--model.net.activation", "none") == same  # a default spelled out
    assert arch("--model.net.hidden_dim", "16") != same


@pytest.mark.parametrize(("seconds_a_run", "runs"), [(0.001, 1 + 25), (0.5, 1 + 3)])
def test_a_slow_model_is_timed_fewer_times(monkeypatch, seconds_a_run, runs):
    """A warm-up, then at most 25 timed runs, but no more than 3 once they used a second of CPU (a hybrid's
    encoder): its median costs seconds, not half a minute, per trial."""
    from tagger.tune import cost

    clock, calls = [0.0], []

    def run() -> None:
        calls.append(1)
        clock[0] += seconds_a_run

    monkeypatch.setattr(cost.time, "process_time", lambda: clock[0])
    assert cost._median_seconds(run) == pytest.approx(seconds_a_run)
    assert len(calls) == runs
