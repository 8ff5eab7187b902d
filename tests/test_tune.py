"""Studies of a few seconds-long trials on the small real data: states, pruning, MLflow, outputs, resume."""

import json
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, tiny_args, tune_options
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tagger import evaluate
from tagger.cli import build, cli_main
from tagger.errors import TaggerError
from tagger.loading import INFERENCE_KEYS, Tagger
from tagger.tune.objective import PRUNING_MONITOR
from tagger.tune.options import TuneOptions, parse
from tagger.tune.runner import make_pruner, run_study
from tagger.tune.search_space import example_values, load_search_space, load_start_points, to_cli_args
from tagger.tune.storage import redact

SPACE = {
    "model.lr": {"type": "float", "low": 1e-9, "high": 3e-2, "log": True},
    "model.net.dropout_p": {"type": "float", "low": 0.0, "high": 0.5},
}


class PruneTrials(optuna.pruners.BasePruner):
    """Deterministic: prunes the given trial numbers at their first report."""

    def __init__(self, numbers: set[int]) -> None:
        self.numbers = numbers

    def prune(self, study, trial) -> bool:
        return trial.number in self.numbers


@pytest.fixture
def options(tmp_path):
    return tune_options(tmp_path, SPACE)


@pytest.fixture
def base_args(data_dir, tmp_path):
    return tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "3")


def runs_by_trial(options):
    client = MlflowClient(options.tracking_uri)
    experiment = client.get_experiment_by_name(options.study_name)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {int(r.data.tags["optuna.trial_number"]): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    return parents, children


@pytest.mark.slow
def test_study_records_pruned_and_complete_trials_and_resumes(options, base_args, data_dir, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = run_study(options, base_args, pruner=PruneTrials({1}))
    assert not [w for w in caught if "not in the evaluation logs" in str(w.message)]  # pruning really ran
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        assert trial.value == trial.user_attrs["val_f1"]  # the objective is validation F1 ...
        assert {"test_f1", "test_precision", "test_recall", "threshold"} <= set(
            trial.user_attrs
        )  # ... test only recorded

    (parent,), children = runs_by_trial(options)
    assert sorted(children) == [0, 1, 2]
    for number, run in children.items():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
        assert run.data.tags["optuna.state"] == study.trials[number].state.name
        assert "model.lr" in run.data.params
    assert "val/loss" in children[0].data.metrics and "final/val_f1" in children[0].data.metrics
    assert parent.info.status == "FINISHED" and "best_value" in parent.data.metrics

    out = tmp_path / "out"
    for name in ("trials.csv", "best.yaml", "best.ckpt", "summary.md", "optimization_history.html"):
        assert (out / name).exists(), name
    summary = (out / "summary.md").read_text()
    assert "1 pruned" in summary and "## Baseline on the same split" in summary
    assert "minus the baseline's" in summary
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 4
    costs = pd.read_csv(out / "trials.csv")[["value", "user_attrs_latency_ms", "user_attrs_num_params"]]
    assert (costs.drop(columns="value") > 0).all().all()  # every trial's cost, in a single-objective study too
    assert not (out / "pareto.csv").exists()

    full = out / "models" / f"trial_{study.best_trial.number}.ckpt"  # kept for a resume
    assert set(torch.load(out / "best.ckpt", weights_only=True)) <= set(INFERENCE_KEYS)
    assert "optimizer_states" in torch.load(full, weights_only=True)
    assert (out / "best.ckpt").stat().st_size < full.stat().st_size
    texts = ["graph neural networks in pytorch", "gans for image generation"]
    assert Tagger.load(out / "best.ckpt").predict_proba(texts) == pytest.approx(Tagger.load(full).predict_proba(texts))
    tested = cli_main(["test", *base_args, "--ckpt_path", str(out / "best.ckpt")])
    report = json.loads((out / "best_report.json").read_text())  # per class, also on the parent run
    for tag, figures in tested.model.test_report["per_class"].items():
        assert report["per_class"][tag] == pytest.approx(figures)
    assert report["overall"]["f1"] == pytest.approx(study.best_trial.user_attrs["test_f1"])
    (parent,), _ = runs_by_trial(options)
    assert "best_report.json" in {a.path for a in MlflowClient(options.tracking_uri).list_artifacts(parent.info.run_id)}

    refit = cli_main(["fit", "--config", str(out / "best.yaml"), *tiny_args(data_dir, tmp_path / "refit")[2:]])
    best = study.best_trial
    assert refit.model.hparams.lr == pytest.approx(best.params["model.lr"])
    assert refit.trainer.global_step > 0

    options.n_trials = 4
    resumed = run_study(options, base_args, pruner=PruneTrials(set()))
    assert len(resumed.trials) == 4 and resumed.trials[3].state == TrialState.COMPLETE
    (same_parent,), children = runs_by_trial(options)
    assert same_parent.info.run_id == parent.info.run_id and len(children) == 4


@pytest.mark.slow
def test_default_pruner_prunes_a_clearly_bad_trial(options, data_dir, tmp_path):
    """Five learning trials, then one whose learning rate is ~0: the median pruner stops it after warm-up."""
    options.n_trials = 6
    small = ["--model.net.embedding_dim", "32", "--model.net.num_filters", "32", "--model.net.hidden_dim", "32"]
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "8", "--trainer.limit_train_batches", "20",
                     "--trainer.limit_val_batches", "10", "--data.batch_size", "32", *small)  # fmt: skip
    study = optuna.create_study(study_name="t", storage=options.storage, direction="maximize")
    for _ in range(5):
        study.enqueue_trial({"model.lr": 1e-2, "model.net.dropout_p": 0.0})
    study.enqueue_trial({"model.lr": 1e-9, "model.net.dropout_p": 0.0})
    study = run_study(options, args, pruner=make_pruner("median"))
    assert [t.state for t in study.trials[:5]] == [TrialState.COMPLETE] * 5
    assert study.trials[5].state == TrialState.PRUNED
    assert max(study.trials[5].intermediate_values) >= 5  # not before the warm-up steps


def test_monitored_metric_is_logged(data_dir, tmp_path):
    cli = build(tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1"))
    cli.trainer.fit(cli.model, cli.datamodule)
    assert PRUNING_MONITOR in cli.trainer.callback_metrics


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_study_goes_on(options, base_args):
    options.n_trials = 1
    study = optuna.create_study(study_name="t", storage=options.storage, direction="maximize")
    study.enqueue_trial({"model.net.dropout_p": 3.0, "model.lr": 1e-3}, skip_if_exists=False)  # Dropout rejects p > 1
    study = run_study(options, base_args)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    _, children = runs_by_trial(options)
    assert children[0].info.status == "FAILED" and "dropout" in children[0].data.tags["optuna.fail_reason"]
    assert children[1].info.status == "FINISHED"


def _space(options, extra):
    path = options.search_space.replace(".yaml", "2.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(SPACE | extra, f)
    return path


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"model.lr": {"type": "float", "low": 1, "high": 0}}, "low < high"),
        ({"model.lr": {"type": "float", "low": 0, "high": 1, "log": True}}, "log scale"),
        ({"model.lr": {"type": "normal"}}, "int, float or categorical"),
        ({"model.activation": {"type": "categorical", "choices": []}}, "choices"),
        ({"model.lr": {"type": "float", "low": 0.1, "high": 1, "loq": True}}, "unknown fields"),
    ],
)
def test_invalid_search_space(tmp_path, space, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(space))
    with pytest.raises(TaggerError, match=message):
        load_search_space(path)


def test_unknown_key_fails_before_any_trial(options, base_args):
    options.search_space = _space(options, {"model.nope": {"type": "int", "low": 1, "high": 2}})
    with pytest.raises(TaggerError, match="unrecognized arguments: --model.nope"):
        run_study(options, base_args)
    assert not (options.out / "trials.csv").exists()


@pytest.mark.parametrize("field", ["storage", "tracking_uri"])
def test_unreachable_database_fails_before_any_trial_without_leaking_the_password(options, base_args, field):
    setattr(options, field, "postgresql://bob:hunter2@127.0.0.1:1/nowhere")
    with pytest.raises(TaggerError, match="cannot connect") as err:
        run_study(options, base_args)
    assert "hunter2" not in str(err.value) and "bob:***@" in str(err.value)


def test_shipped_search_space_is_the_seeds_and_parses(data_dir, tmp_path):
    space = load_search_space("seed")
    assert space == load_search_space(REPO / "configs" / "search_space_seed.yaml")
    assert set(space) == {
        "model.net.embedding_dim",
        "model.net.num_filters",
        "model.net.hidden_dim",
        "model.net.dropout_p",
        "model.lr",
    }
    assert space["model.lr"].log and (space["model.lr"].low, space["model.lr"].high) == (5e-5, 5e-4)
    cli = build([*tiny_args(data_dir, tmp_path), *to_cli_args(example_values(space))])
    assert cli.model.hparams.net["init_args"]["embedding_dim"] == 128


def test_redact():
    assert redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("journal:optuna.journal") == "journal:optuna.journal"


def test_command_line_splits_tuning_options_from_fit_overrides():
    opts, rest = parse(["--n-trials", "7", "--trainer.max_epochs", "20", "--data.batch_size", "32"])
    assert opts.n_trials == 7 and opts.out.as_posix() == "studies/tagger"
    assert rest[-4:] == ["--trainer.max_epochs", "20", "--data.batch_size", "32"]


@pytest.mark.slow
def test_ctrl_c_fails_the_running_trial_writes_outputs_and_a_rerun_resumes(options, base_args, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    space = options.search_space
    command = [sys.executable, "-m", "tagger.tune", "--study-name", "t", "--storage", options.storage,
               "--tracking-uri", options.tracking_uri, "--search-space", space,
               "--output-dir", str(options.out), "--n-trials", "2", "--cv", "1", *base_args]  # fmt: skip
    endless = ["--trainer.max_epochs", "100000", "--trainer.min_epochs", "100000"]
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 (a pipe left unread would block the worker)
    worker = subprocess.Popen([*command, *endless], stdout=log, stderr=subprocess.STDOUT, text=True)
    last_epoch = options.out / "trials" / "trial_0" / "resume" / "last.ckpt"
    deadline = time.monotonic() + 60
    while not last_epoch.exists() and time.monotonic() < deadline:  # trial 0 is training
        time.sleep(0.2)
    time.sleep(0.5)
    worker.send_signal(signal.SIGINT)
    worker.wait(timeout=60)
    output = (tmp_path / "worker.log").read_text()
    assert worker.returncode != 0 and "Rerun the same command to resume" in output, output

    study = optuna.load_study(study_name="t", storage=options.storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]  # a retry is queued
    assert last_epoch.exists()  # kept for the retry
    (parent,), children = runs_by_trial(options)
    assert children[0].info.status == "KILLED" and parent.info.status == "KILLED"
    assert (options.out / "summary.md").exists() and (options.out / "trials.csv").exists()

    # the command with an end (a changed definition, hence --allow-changes): 40 epochs, past the interrupted
    # epoch (a run past max_epochs cannot resume), and a bound for a trial whose tiny learning rate never stops
    rerun = [*command, "--trainer.max_epochs", "40", "--allow-changes"]
    subprocess.run(rerun, check=True, capture_output=True, timeout=120)
    study = optuna.load_study(study_name="t", storage=options.storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    retry = study.trials[1]
    assert retry.user_attrs["retry_of"] == 0 and retry.params == study.trials[0].params
    assert retry.user_attrs["resumed_from_epoch"] >= 1  # from the interrupted attempt's last epoch
    assert not (options.out / "trials").exists()  # checkpoints cleaned once the trials ended
    (again,), children = runs_by_trial(options)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert sorted(r.info.status for r in children.values()) == ["FINISHED", "FINISHED", "KILLED"]


@pytest.mark.slow
def test_a_resumed_study_proposes_new_parameters_and_a_fresh_one_reproduces(options, base_args, tmp_path):
    options.n_trials, options.pruner = 2, "none"
    first = run_study(options, base_args)
    options.n_trials = 4
    resumed = run_study(options, base_args)
    params = [tuple(sorted(t.params.items())) for t in resumed.trials]
    assert len(params) == 4 and len(set(params)) == 4  # the resumed trials are not the first ones again

    again = TuneOptions(**{**vars(options), "n_trials": 2, "study_name": "t2", "output_dir": str(tmp_path / "o2")})
    assert [t.params for t in run_study(again, base_args).trials] == [t.params for t in first.trials[:2]]


@pytest.mark.slow
def test_best_yaml_is_the_best_trials_own_config_and_retrains_to_its_figures(options, data_dir, tmp_path):
    options.n_trials, options.pruner = 1, "none"
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "3", "--data.batch_size", "8")
    (trial,) = run_study(options, args).trials
    options.allow_changes = True  # the same study again with other settings: no trial runs, best.yaml stays
    run_study(options, tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "7", "--data.batch_size", "32"))
    best = yaml.safe_load((options.out / "best.yaml").read_text())
    assert best["trainer"]["max_epochs"] == 3 and best["data"]["batch_size"] == 8

    refit = cli_main(["fit", "--config", str(options.out / "best.yaml"), "--trainer.default_root_dir", str(tmp_path)])
    ckpt = refit.trainer.checkpoint_callback.best_model_path
    tested = cli_main(["test", "--config", str(options.out / "best.yaml"), "--ckpt_path", ckpt])
    assert tested.model.test_report["overall"]["f1"] == trial.user_attrs["test_f1"]  # exactly: seeded, CPU


@pytest.mark.slow
def test_reopening_a_study_defined_otherwise_is_refused(options, base_args, data_dir, tmp_path):
    options.n_trials = 1
    run_study(options, base_args)
    options.n_trials = 2
    other_epochs = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "7")
    with pytest.raises(TaggerError, match=r"trainer\.max_epochs \(3 -> 7\).*--allow-changes"):
        run_study(options, other_epochs)
    with pytest.raises(TaggerError, match="changed search space"):
        wider = _space(options, {"model.net.hidden_dim": {"type": "int", "low": 4, "high": 8}})
        run_study(TuneOptions(**{**vars(options), "search_space": wider}), base_args)
    assert len(optuna.load_study(study_name="t", storage=options.storage).trials) == 1  # nothing added
    options.allow_changes = True
    assert len(run_study(options, other_epochs).trials) == 2


def test_a_minimise_study_of_the_same_name_is_refused(options, base_args):
    optuna.create_study(study_name="t", storage=options.storage, direction="minimize")
    with pytest.raises(TaggerError, match="minimize study"):
        run_study(options, base_args)


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout", "0"],
        ["--heartbeat-interval", "0"],
        ["--threads", "-1"],
        ["--n-trials", "0"],
        ["--max-retries", "-1"],
    ],
)
def test_option_values_out_of_range_end_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2 and argv[0] in capsys.readouterr().err


@pytest.mark.parametrize("storage", ["redis://localhost:6379/0", "mongodb://u:pw@h/db"])
def test_an_unusable_storage_is_one_message_and_leaves_nothing_behind(options, base_args, storage, tmp_path):
    options.storage = storage
    with pytest.raises(TaggerError, match="not a storage"):
        run_study(options, base_args)
    assert not (tmp_path / "mlflow.db").exists() and not options.out.exists()


def test_a_refused_study_creates_no_sqlite_file_and_no_tracking_store(options, base_args, tmp_path):
    options.search_space = _space(options, {"model.nope": {"type": "int", "low": 1, "high": 2}})
    with pytest.raises(TaggerError):
        run_study(options, base_args)
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_plain_journal_path_is_a_journal_storage(options, base_args, tmp_path):
    options.storage, options.n_trials = str(tmp_path / "plain.journal"), 1
    run_study(options, base_args)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "plain.journal")))
    assert len(optuna.load_study(study_name="t", storage=storage).trials) == 1


def test_a_truncated_journal_line_is_named_with_the_fix(options, base_args, tmp_path):
    journal = tmp_path / "s.journal"
    journal.write_text('{"op_code": 0, "worker_id": "w", "study_name": "t", "directions": [1]}\n{"op_code": 6, "tr')
    options.storage = f"journal:{journal}"
    with pytest.raises(TaggerError, match=r"truncated line 2.*sed -i"):
        run_study(options, base_args)
    assert journal.read_text().endswith('"tr')  # left as it was


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"model.net.dropout_p": {"type": "float", "low": 2, "high": 5}}, r"'model\.net\.dropout_p' can take 2\.0"),
        ({"model.net.dropout_p": {"type": "float", "low": 0.1, "high": 5}}, r"'model\.net\.dropout_p' can take 5\.0"),
        ({"model.net.activation": {"type": "categorical", "choices": ["none", "tanh"]}}, r"activation='tanh'"),
    ],
)
def test_every_value_the_model_rejects_is_found_before_any_trial(options, base_args, tmp_path, extra, message):
    options.search_space = _space(options, extra)
    with pytest.raises(TaggerError, match=message):
        run_study(options, base_args)
    assert not (tmp_path / "optuna.db").exists()


def test_search_space_numbers_yaml_reads_as_strings_are_numbers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model.lr: {type: float, low: 1e-5, high: 1e-2, log: true}\n")
    assert (load_search_space(path)["model.lr"].low, load_search_space(path)["model.lr"].high) == (1e-5, 1e-2)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 0.1, "high": 1, "log": "yes"}, "log must be true or false"),
        ({"type": "int", "low": 1, "high": 9, "step": 0}, "step must be > 0"),
        ({"type": "int", "low": 1, "high": 9, "step": 0.5}, "whole numbers"),
        ({"type": "float", "low": 0.1, "high": 1, "step": 0.1, "log": True}, "cannot be combined"),
        ({"type": "float", "low": "small", "high": 1}, "low must be a number"),
        ({"type": "categorical", "choices": [1, 2], "log": True}, "takes only choices and when"),
    ],
)
def test_step_log_and_numbers_are_checked(tmp_path, spec, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"model.lr": spec}))
    with pytest.raises(TaggerError, match=message):
        load_search_space(path)


def test_an_unwritable_output_folder_is_refused_before_any_trial(options, base_args, tmp_path):
    (tmp_path / "a-file").write_text("")
    options.output_dir = str(tmp_path / "a-file" / "out")  # not a folder, even for root
    with pytest.raises(TaggerError, match=r"cannot write to the output folder .*a-file.*--output-dir"):
        run_study(options, base_args)
    assert not (tmp_path / "mlflow.db").exists()


def test_outputs_that_cannot_be_written_are_one_message_and_the_trials_are_kept(options, base_args):
    options.n_trials = 1
    (options.out / "trials.csv").mkdir(parents=True)  # a folder where the file goes: fails even for root
    with pytest.raises(TaggerError, match=r"outputs not written: cannot write .*rerun the same command"):
        run_study(options, base_args)
    study = optuna.load_study(study_name="t", storage=options.storage)
    assert len(study.get_trials(states=[TrialState.COMPLETE])) == 1
    (parent,), _ = runs_by_trial(options)
    assert parent.info.status == "FINISHED"
    assert not list(options.out.glob("*.part"))


def test_outputs_are_written_whole_or_not_at_all(tmp_path):
    import resource
    import signal

    from tagger.tune.report import write_atomic

    (tmp_path / "summary.md").write_text("previous")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(OSError):
            write_atomic(tmp_path / "summary.md", "x" * 100_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.md"]
    assert (tmp_path / "summary.md").read_text() == "previous"


@pytest.mark.slow
def test_tune_runs_from_any_folder_with_the_shipped_config_and_search_space(data_dir, tmp_path):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "tagger.tune", "--n-trials", "1", "--pruner", "none",
               "--data.data_dir", str(data_dir), "--data.min_tag_freq", "10", "--trainer.max_epochs", "1",
               "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # MLflow sets it in-process
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    best = yaml.safe_load((tmp_path / "studies" / "tagger" / "best.yaml").read_text())
    # the shipped default space over the shipped cnn.yaml: one of its two families, cross-validated
    assert best["model"]["net"]["class_path"] in ("tagger.models.cnn.CharCNN", "tagger.models.ngram.NgramNet")
    assert (best["data"]["features"] == "tfidf") == best["model"]["net"]["class_path"].endswith("NgramNet")
    assert (tmp_path / "optuna.journal").exists() and (tmp_path / "mlflow.db").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_study_without_a_gpu_is_one_message_before_any_trial(options, base_args, tmp_path):
    with pytest.raises(TaggerError, match="the trainer cannot start.*--trainer.accelerator cpu"):
        run_study(options, [*base_args, "--trainer.accelerator", "gpu"])
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()


def test_no_fold_is_scored_at_a_threshold_tuned_on_its_own_predictions():
    """Fold 0 separates perfectly at 0.75; folds 1 and 2 at 0.25. Tuned on its own predictions, fold 0 would
    score 1.0; at the other folds' threshold it marks its negatives (0.5) as positives."""
    from tagger.metrics import class_thresholds
    from tagger.tune.objective import out_of_fold_scores

    y = np.array([[1], [0], [1], [0]]).repeat(2, 1)  # two tags that behave alike
    own = np.array([[0.9], [0.5], [0.8], [0.5]]).repeat(2, 1)
    low = np.array([[0.3], [0.1], [0.4], [0.2]]).repeat(2, 1)
    scores = out_of_fold_scores([y, y, y], [own, low, low], ["a", "b"])
    assert scores[0] == pytest.approx(2 / 3)  # precision 2/4, recall 1 at the others' threshold
    assert scores[0] < 1.0
    per_tag = out_of_fold_scores([y, y, y], [own, low, low], ["a", "b"], lambda y, p: class_thresholds(y, p, 1))
    assert per_tag[0] == pytest.approx(2 / 3)  # per-tag thresholds come from the other folds too


@pytest.mark.slow
def test_a_cross_validated_study_scores_the_mean_over_folds_and_prunes_per_fold(options, base_args):
    options.n_trials, options.cv = 3, 3
    study = run_study(options, base_args, pruner=PruneTrials({2}))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2 and study.trials[2].state == TrialState.PRUNED
    assert list(study.trials[2].intermediate_values) == [0]  # pruned after its first fold
    for trial in complete:
        folds = [trial.user_attrs[f"val_f1_fold{k}"] for k in range(3)]
        assert trial.value == pytest.approx(np.mean(folds)) and trial.user_attrs["val_f1_std"] == pytest.approx(
            np.std(folds)
        )
        assert list(trial.intermediate_values) == [0, 1, 2] and "test_f1" in trial.user_attrs
    assert "3 folds" in study.user_attrs["definition"]["objective"]
    assert not (options.out / "trials").exists()  # fold predictions and checkpoints cleaned


@pytest.mark.slow
def test_a_cross_validated_study_hands_over_its_winner_refitted_and_registered_once(
    options, base_args, data_dir, capsys
):
    options.n_trials, options.cv, options.register_model = 1, 2, "tagger-study"
    study = run_study(options, base_args)
    best = options.out / "best.ckpt"
    record = json.loads((options.out / "best.json").read_text())
    assert record["trial"] == study.best_trial.number
    model = Tagger.load(best)  # a finished fit's checkpoint: threshold tuned
    config = yaml.safe_load((options.out / "best.yaml").read_text())
    assert model.module.hparams.lr == pytest.approx(config["model"]["lr"])  # best.yaml's config, refitted
    summary = (options.out / "summary.md").read_text()
    assert f"macro F1 {record['test']['f1']:.4f}" in summary and "mean of its 2 fold models" in summary
    capsys.readouterr()
    evaluate.main(["--model", str(best), "--projects", str(data_dir / "projects.json")])
    assert set(json.loads(capsys.readouterr().out)["per_class"]) == set(model.classes)
    client = MlflowClient(options.tracking_uri)
    (version,) = client.search_model_versions("name='tagger-study'")  # the study's model, registered
    assert version.tags["trial"] == str(study.best_trial.number) and version.tags["study"] == "t"
    assert float(version.tags["val_f1"]) == pytest.approx(study.best_value)
    (parent,), _ = runs_by_trial(options)
    assert version.run_id == parent.info.run_id
    modified = best.stat().st_mtime_ns
    run_study(options, base_args)  # nothing left to run: the same winner keeps its model, no second version
    assert best.stat().st_mtime_ns == modified
    assert len(client.search_model_versions("name='tagger-study'")) == 1


FAMILIES = {
    "model.net": {
        "type": "categorical",
        "choices": ["tagger.models.cnn.CharCNN", "test_network_plugin.MeanBag"],
        "when": {
            "tagger.models.cnn.CharCNN": {"model.net.num_filters": {"type": "int", "low": 2, "high": 6}},
            "test_network_plugin.MeanBag": {"model.net.dim": {"type": "int", "low": 2, "high": 16}},
        },
    },
    "model.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


def test_a_conditional_space_suggests_only_the_chosen_family_s_parameters(tmp_path):
    from tagger.tune.search_space import suggest

    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump(FAMILIES))
    space = load_search_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    chosen = []
    for _ in range(20):
        params = suggest(trial := study.ask(), space)
        study.tell(trial, 0.0)
        own = {"tagger.models.cnn.CharCNN": "model.net.num_filters", "test_network_plugin.MeanBag": "model.net.dim"}
        assert set(params) == {"model.net", "model.lr", own[params["model.net"]]}
        keys = list(params)
        assert keys.index(own[params["model.net"]]) == keys.index("model.net") + 1  # class path, then its arguments
        chosen.append(params["model.net"])
    assert len(set(chosen)) == 2


def test_a_when_choice_that_is_not_a_choice_is_refused(tmp_path):
    bad = {
        "model.net": {
            **FAMILIES["model.net"],
            "when": {"no.Such": {"model.net.dim": {"type": "int", "low": 1, "high": 2}}},
        }
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(TaggerError, match=r"when names \['no.Such'\]"):
        load_search_space(tmp_path / "s.yaml")


@pytest.mark.slow
def test_a_study_chooses_between_network_families(options, base_args, tmp_path):
    options.search_space, options.n_trials, options.pruner = str(tmp_path / "families.yaml"), 2, "none"
    (tmp_path / "families.yaml").write_text(yaml.safe_dump(FAMILIES))
    study = optuna.create_study(study_name="t", storage=options.storage, direction="maximize")
    study.enqueue_trial({"model.net": "tagger.models.cnn.CharCNN", "model.net.num_filters": 3, "model.lr": 5e-3})
    study.enqueue_trial({"model.net": "test_network_plugin.MeanBag", "model.net.dim": 5, "model.lr": 5e-3})
    study = run_study(options, base_args)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    nets = [yaml.safe_load(t.user_attrs["config"])["model"]["net"] for t in study.trials]
    assert nets[0]["class_path"] == "tagger.models.cnn.CharCNN" and nets[0]["init_args"]["num_filters"] == 3
    assert nets[1] == {"class_path": "test_network_plugin.MeanBag", "init_args": {"dim": 5}}
    summary = (options.out / "summary.md").read_text()
    loser = min(study.trials, key=lambda t: t.value)
    gap = loser.value - study.best_value
    row = f"| {loser.params['model.net']} | 1 | {loser.number} | {loser.value:.4f} | {gap:+.4f} |"
    assert "## Network families" in summary and row in summary


def test_a_study_stopped_by_failing_trials_closes_its_parent_run_as_failed(options, base_args):
    options.n_trials = 1
    study = optuna.create_study(study_name="t", storage=options.storage, direction="maximize")
    for _ in range(3):  # Dropout rejects p > 1: three failures stop a 1-trial study
        study.enqueue_trial({"model.net.dropout_p": 3.0, "model.lr": 1e-3}, skip_if_exists=False)
    with pytest.raises(TaggerError, match="3 trials failed"):
        run_study(options, base_args)
    (parent,), children = runs_by_trial(options)
    assert parent.info.status == "FAILED" and {r.info.status for r in children.values()} == {"FAILED"}


@pytest.mark.slow
def test_a_retried_cross_validated_trial_refits_only_the_folds_it_lacks(options, base_args, monkeypatch):
    from tagger.tune import objective
    from tagger.tune.interrupt import TrialInterrupted

    fitted, real_fit_fold = [], objective._fit_fold

    def fit_fold(plan, run, params, fold, part, saved):
        fitted.append((run.trial.number, fold))
        if len(fitted) == 2:  # trial 0's second fold: as if Ctrl-C came while it trained
            raise TrialInterrupted("interrupted")
        real_fit_fold(plan, run, params, fold, part, saved)

    monkeypatch.setattr(objective, "_fit_fold", fit_fold)
    options.n_trials, options.cv, options.pruner = 1, 2, "none"
    study = run_study(options, base_args)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[1].user_attrs["retry_of"] == 0
    assert fitted == [(0, 0), (0, 1), (1, 1)]  # the retry kept fold 0's predictions and fitted fold 1 only


def test_a_key_shared_by_two_families_needs_one_kind_of_distribution(tmp_path):
    bad = {
        "model.net": {
            **FAMILIES["model.net"],
            "when": {
                "tagger.models.cnn.CharCNN": {"model.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}},
                "test_network_plugin.MeanBag": {"model.lr": {"type": "float", "low": 1e-3, "high": 1e-2}},
            },
        }
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(TaggerError, match="'model.lr' is searched in several places"):
        load_search_space(tmp_path / "s.yaml")
    fixed = {"type": "categorical", "choices": [1e-3]}  # not a search dimension: no distribution to share
    bad["model.net"]["when"]["test_network_plugin.MeanBag"]["model.lr"] = fixed
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(bad))
    assert load_search_space(tmp_path / "s.yaml")["model.net"].when["test_network_plugin.MeanBag"]["model.lr"].choices


def family_of(params: dict) -> str:
    return "linear" if params["model.solver"] == "lbfgs" else params["model.net"].rsplit(".", 1)[1]


def test_the_default_space_chooses_a_family_and_only_its_keys():
    from tagger.tune.search_space import suggest, trial_params

    space = load_search_space("default")
    (start,) = load_start_points("default")  # configs/linear.yaml, checked against the space
    assert start["model.solver"] == "lbfgs" and start["model.C"] == 3.0
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(16):
        params = suggest(trial := study.ask(), space)
        study.tell(trial, 0.0)
        assert trial_params(space, study.trials[-1].params) == params  # fixed settings back from what Optuna stored
        seen.add(family := family_of(params))
        branch = space["model.solver"].when[params["model.solver"]]
        if family != "linear":
            branch = branch | branch["model.net"].when[params["model.net"]]
        assert set(params) - {"model.solver"} == set(branch)
        assert (params.get("data.features") == "tfidf") == (family != "CharCNN")
        assert (params.get("data.batch_size", 64) is None) == (family == "linear")  # L-BFGS: one full batch
    assert seen == {"linear", "CharCNN", "NgramNet"}


@pytest.mark.slow
def test_each_family_of_the_default_space_runs_end_to_end(data_dir, tmp_path):
    """One cross-validated trial per family on the small data: the char-CNN and the hidden-layer n-gram network
    (queued first, at the small end of their sizes), then the space's own start, the converged linear model."""
    options = tune_options(tmp_path, {}, search_space="default", n_trials=3, cv=2, pruner="none", noise_repeats=0)
    study = optuna.create_study(study_name=options.study_name, storage=options.storage, direction="maximize")
    cnn = {"model.net.embedding_dim": 64, "model.net.num_filters": 64, "model.net.hidden_dim": 64}
    study.enqueue_trial({"model.solver": "adam", "model.net": "tagger.models.cnn.CharCNN", **cnn})
    study.enqueue_trial({"model.solver": "adam", "model.net": "tagger.models.ngram.NgramNet"})
    args = tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "1")
    pairs = zip(args[::2], args[1::2], strict=True)
    args = [a for pair in pairs if not pair[0].startswith("--model.net.") for a in pair]  # each family's own sizes
    study = run_study(options, args)
    assert [family_of(t.params) for t in study.trials] == ["CharCNN", "NgramNet", "linear"]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert (options.out / "best.ckpt").exists()


def test_the_space_s_start_trials_run_first_and_once(options, base_args):
    space = yaml.safe_load(Path(options.search_space).read_text())
    low = space["model.lr"]["low"]
    space["start"] = [{"model.lr": low}]
    Path(options.search_space).write_text(yaml.safe_dump(space))
    options.n_trials, options.pruner = 2, "none"
    study = run_study(options, [*base_args, "--trainer.max_epochs", "1"])
    assert study.trials[0].params["model.lr"] == low and study.trials[1].params["model.lr"] != low
    options.n_trials = 3
    study = run_study(options, [*base_args, "--trainer.max_epochs", "1"])
    assert [t.params["model.lr"] for t in study.trials].count(low) == 1


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ([{"model.lr": 5.0}], "sets 'model.lr' to 5.0, outside its distribution"),
        ([{"model.nope": 1}], r"sets \['model.nope'\], not searched"),
        ({"model.lr": 1e-3}, "start must be a list of mappings"),
    ],
)
def test_a_bad_start_trial_is_refused(options, start, message):

    space = yaml.safe_load(Path(options.search_space).read_text()) | {"start": start}
    Path(options.search_space).write_text(yaml.safe_dump(space))
    with pytest.raises(TaggerError, match=message):
        load_start_points(options.search_space)
