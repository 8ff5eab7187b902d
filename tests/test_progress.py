import datetime
import io
from types import SimpleNamespace

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from tagger.tune.progress import EpochLine, Progress, clock, so_far
from tagger.tune.workers import Labelled


def finished(value: float, seconds: float) -> FrozenTrial:
    start = datetime.datetime(2026, 1, 1)
    return FrozenTrial(
        number=0, trial_id=0, state=TrialState.COMPLETE, value=value, datetime_start=start,
        datetime_complete=start + datetime.timedelta(seconds=seconds), params={}, distributions={},
        user_attrs={}, system_attrs={}, intermediate_values={},
    )  # fmt: skip


def test_a_finished_trial_prints_k_of_n_elapsed_and_an_eta_from_the_mean_duration(capsys):
    study = optuna.create_study(direction="maximize")
    for value, seconds in [(0.5, 60), (0.7, 120)]:
        study.add_trial(finished(value, seconds))
    Progress(n_trials=5)(study, study.trials[-1])
    line = capsys.readouterr().out
    assert "best=0.7000 (trial 1)" in line and "2/5 finished" in line
    assert "ETA 4m30s" in line  # mean 90 s x 3 trials left, one running


def test_the_eta_divides_by_the_trials_running_at_once(capsys):
    study = optuna.create_study(direction="maximize")
    study.add_trial(finished(0.5, 100))
    running = [study.ask() for _ in range(2)]
    Progress(n_trials=3).started(study, running[0])
    assert "trial   1 started | 1/3 finished" in (line := capsys.readouterr().out) and "ETA 1m40s" in line


def test_a_pruned_trial_shows_the_pruner_s_figure_under_its_own_name(capsys):
    study = optuna.create_study(direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.PRUNED,
            intermediate_values={0: 0.6, 1: 0.7013},
            user_attrs={"pruned_on": "val/f1_own_threshold"},
        )
    )
    Progress(n_trials=2)(study, study.trials[0])
    assert "PRUNED   value=- (val/f1_own_threshold 0.7013 when pruned) best=-" in capsys.readouterr().out


def test_a_study_opens_with_what_it_holds_counted_in_words():
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"x": 1})
    assert so_far(study) == "new, 1 trial queued"  # was "1 trials so far"
    study.add_trial(optuna.trial.create_trial(value=0.5))
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))
    assert so_far(study) == "2 trials so far (1 complete, 1 pruned), 1 trial queued"
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    assert so_far(optuna.create_study()) == "new" and so_far(study).startswith(
        "3 trials so far (1 complete, 1 pruned, 1 failed)"
    )


def test_clock():
    assert [clock(s) for s in (42, 185, 3725)] == ["42s", "3m05s", "1h02m"]


def test_a_multi_objective_line_names_each_value_and_the_front_s_size(capsys):
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["val_f1", "latency_ms"])
    for values in ([0.6, 2.0], [0.7, 5.0], [0.5, 6.0]):
        study.add_trial(optuna.trial.create_trial(values=values))
    Progress(n_trials=4)(study, study.trials[1])
    line = capsys.readouterr().out
    assert "trial   1 COMPLETE value=val_f1=0.7 latency_ms=5 front: 2 trials" in line


def test_a_rejected_trial_says_why_it_was_not_trained(capsys):
    study = optuna.create_study(direction="maximize")
    reason = "over budget: latency_ms 9.1 > 5"
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={"rejected": reason}))
    Progress(n_trials=2)(study, study.trials[0])
    assert f"REJECTED value={reason} best=-" in capsys.readouterr().out


def test_a_long_trial_prints_its_fold_epoch_and_val_ap_at_most_every_so_often(capsys):
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=7, callback_metrics={"val/ap": torch.tensor(0.71)})
    EpochLine(3, "fold_1", every_s=0).on_validation_epoch_end(trainer, None)
    assert capsys.readouterr().out == "trial   3 fold 2 epoch 7 val/ap 0.7100\n"
    quiet = EpochLine(3, every_s=60)
    quiet.on_validation_epoch_end(trainer, None)  # too soon after the trial started
    trainer.sanity_checking = True
    EpochLine(3, every_s=0).on_validation_epoch_end(trainer, None)
    assert capsys.readouterr().out == ""


def test_each_line_of_a_worker_carries_its_label():
    stream = io.StringIO()
    out = Labelled(stream, "[worker 2] ")
    out.write("trial 1 started\ntrial 1 ")
    out.write("COMPLETE\n")
    assert stream.getvalue() == "[worker 2] trial 1 started\n[worker 2] trial 1 COMPLETE\n"
