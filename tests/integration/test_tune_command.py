"""`python -m tagger.tune` as a user runs it: from any folder with the shipped config and space (each family of
the default space), and stopped by Ctrl-C, then resumed by the same command."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest
import yaml
from conftest import tiny_args, tune_options
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from test_tune import runs_by_trial

from tagger.tune.cli import main
from tagger.tune.record import TrialRecord
from tagger.tune.search_space import load_start_points

pytestmark = pytest.mark.integration


def test_tune_runs_from_any_folder_with_the_shipped_config_and_search_space(data_dir, tmp_path, tiny_minilm):
    """Each family of the default space, cross-validated: a hybrid (queued first; the tiny BERT stands in for
    MiniLM) and the space's own start, the converged linear model."""
    journal = JournalStorage(JournalFileBackend(str(tmp_path / "optuna.journal")))
    queued = optuna.create_study(study_name="tagger", storage=journal, direction="maximize")
    (start,) = load_start_points("default")
    queued.enqueue_trial(start | {"data.features": "hybrid", "data.embedding.alpha": 1.0})
    command = [sys.executable, "-m", "tagger.tune", "--n-trials", "2", "--cv", "2", "--noise-repeats", "0",
               "--threads", "1", "--data.data_dir", str(data_dir), "--data.min_tag_freq", "10",
               "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
               ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # mlflow.set_tracking_uri sets it
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    study = optuna.load_study(study_name="tagger", storage=journal)
    assert [TrialRecord.of(t).family for t in study.trials] == ["hybrid", "linear"]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    best = yaml.safe_load((tmp_path / "studies" / "tagger" / "best.yaml").read_text())
    # a converged model, fitted on train+val at the out-of-fold threshold
    assert best["model"]["solver"] == "lbfgs" and best["data"]["train_on"] == "train+val"
    assert best["threshold"]["value"] is not None
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "studies" / "tagger" / "best.ckpt").exists()
    assert f"handed over trial {study.best_trial.number} (val_f1 " in done.stdout
    output = done.stdout + done.stderr  # a quiet terminal: no banners, store notices, progress bars or warnings
    for noise in ("Seed set", "GPU available", "litlogger", "INFO mlflow", "Downloading artifacts", "Warning", "warn("):
        assert noise not in output, output


@pytest.fixture
def _logging_restored():
    """The command's main() sets Optuna's and Lightning's log levels for its process: this one is the test's."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    levels, verbosity = [logging.getLogger(name).level for name in names], optuna.logging.get_verbosity()
    yield
    for name, level in zip(names, levels, strict=True):
        logging.getLogger(name).setLevel(level)
    optuna.logging.set_verbosity(verbosity)


@pytest.mark.usefixtures("_logging_restored")
def test_ctrl_c_fails_the_running_trial_writes_outputs_and_a_rerun_resumes(data_dir, tmp_path, capsys):
    """A real SIGINT to the process that runs the command's main(), here the test's own (with workers, each a
    process of its own, the same stop: test_scale_out.py)."""
    options = tune_options(tmp_path, {"model.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True}})
    command = ["--study-name", "t", "--storage", options.storage,
               "--tracking-uri", options.tracking_uri, "--search-space", options.search_space,
               "--output-dir", str(options.out), "--n-trials", "2", "--cv", "1", "--threads", "1",
               *tiny_args(data_dir, tmp_path, "--trainer.max_epochs", "3")]  # fmt: skip
    endless = ["--trainer.max_epochs", "100000", "--trainer.min_epochs", "100000"]
    last_epoch = options.out / "trials" / "trial_0" / "resume" / "last.ckpt"

    def ctrl_c_once_trial_0_trains() -> None:
        deadline = time.monotonic() + 60
        while not last_epoch.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if last_epoch.exists():  # else the study failed before: no SIGINT for pytest
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_once_trial_0_trains, daemon=True).start()
    with pytest.raises(SystemExit) as stopped:
        main([*command, *endless])
    output = capsys.readouterr()
    assert "Rerun the same command to resume" in str(stopped.value.code), output
    assert "Traceback" not in output.err and "trial   0 FAIL     value=- (interrupted)" in output.out

    study = optuna.load_study(study_name="t", storage=options.storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]  # a retry is queued
    assert last_epoch.exists()  # kept for the retry
    (parent,), children = runs_by_trial(options)
    assert children[0].info.status == "KILLED" and parent.info.status == "KILLED"
    assert (options.out / "summary.md").exists() and (options.out / "trials.csv").exists()

    # the command with an end (a changed definition, hence --allow-changes): 40 epochs, past the interrupted
    # epoch (a run past max_epochs cannot resume), and a bound for a trial whose tiny learning rate never stops
    main([*command, "--trainer.max_epochs", "40", "--allow-changes"])
    study = optuna.load_study(study_name="t", storage=options.storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    retry = study.trials[1]
    assert retry.user_attrs["retry_of"] == 0 and retry.params == study.trials[0].params
    assert retry.user_attrs["resumed_from_epoch"] >= 1  # from the interrupted attempt's last epoch
    assert not (options.out / "trials").exists()  # checkpoints cleaned once the trials ended
    (again,), children = runs_by_trial(options)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert sorted(r.info.status for r in children.values()) == ["FINISHED", "FINISHED", "KILLED"]
