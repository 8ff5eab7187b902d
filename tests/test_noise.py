"""The objective-noise phase after a cross-validated study's trials, on instant fits: how many cuts it measures by
default, and the lines it prints."""

import datetime

import numpy as np
import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from tagger.tune import noise
from tagger.tune.noise import NOISE_ATTR, default_repeats, objective_noise
from tagger.tune.objective import TrialPlan


def study_of(seconds: list[float]) -> optuna.Study:
    """A study whose trials took these durations, the first the best."""
    study, start = optuna.create_study(direction="maximize"), datetime.datetime(2026, 1, 1)
    for number, duration in enumerate(seconds):
        end = start + datetime.timedelta(seconds=duration)
        study.add_trial(
            FrozenTrial(
                number=number,
                trial_id=number,
                state=TrialState.COMPLETE,
                value=0.7 - number / 100,
                datetime_start=start,
                datetime_complete=end,
                params={},
                distributions={},
                user_attrs={},
                system_attrs={},
                intermediate_values={},
            )  # fmt: skip
        )
    return study


@pytest.mark.parametrize(
    ("seconds", "repeats"),
    [
        ([60] * 6, 1),  # a 6-trial study: one other cut (a sixth of its time), not three (40% of it, issue 24)
        ([60] * 50, 3),  # at most three
        ([60] * 4, 0),  # one cut would cost more than a fifth of the trials' time: none
        ([5] + [60] * 5, 3),  # a cheap winner among costly trials: three cuts cost little
    ],
)
def test_by_default_the_noise_costs_at_most_a_fifth_of_the_trials_time(seconds, repeats):
    study = study_of(seconds)
    assert default_repeats(study, study.trials[0]) == repeats


def instant_fold(args, folds, fold, defaults, cv_seed=None):
    rng = np.random.default_rng(100 * cv_seed + fold)
    y = rng.random((20, 3)) < 0.4
    arrays = {"val_y": y, "val_p": np.clip(y * 0.6 + rng.random((20, 3)) * 0.5, 0, 1), "classes": np.array(list("abc"))}
    return arrays, 1


@pytest.fixture
def plan() -> TrialPlan:
    return TrialPlan(base_args=[], space={}, parser=None, config={"data": {"cv_seed": None, "seed": 42}}, cv=2)


def test_the_noise_phase_prints_k_of_n_fits_with_an_eta_and_is_timed(monkeypatch, tmp_path, capsys, plan):
    monkeypatch.setattr(noise, "fit_fold", instant_fold)
    study = study_of([60] * 6)
    measured = objective_noise(study, study.trials[0], plan, None, tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "objective noise: trial 0's config on 1 other cut into 2 folds: 2 fits, ETA 1m00s"
    assert lines[1].startswith("objective noise: 1/2 fits, ") and " elapsed, ETA " in lines[1]
    assert lines[2].startswith("objective noise: 2/2 fits, ") and lines[2].endswith(", done")
    assert measured["cv_seeds"] == [43] and len(measured["scores"]) == 2 and measured["seconds"] >= 0
    assert study.user_attrs[NOISE_ATTR] == measured


def test_noise_repeats_given_are_honoured_and_a_measurement_is_kept(monkeypatch, tmp_path, capsys, plan):
    monkeypatch.setattr(noise, "fit_fold", instant_fold)
    study = study_of([60] * 4)  # too small for a default cut
    assert objective_noise(study, study.trials[0], plan, None, tmp_path) is None
    assert "not measured" in (said := capsys.readouterr().out) and "--noise-repeats N measures it" in said
    measured = objective_noise(study, study.trials[0], plan, 2, tmp_path)
    assert measured["cv_seeds"] == [43, 44] and len(measured["scores"]) == 3
    monkeypatch.setattr(noise, "fit_fold", None)  # measured already: nothing refits
    assert objective_noise(study, study.trials[0], plan, 1, tmp_path) == measured
    assert objective_noise(study, study.trials[0], plan, None, tmp_path) == measured
