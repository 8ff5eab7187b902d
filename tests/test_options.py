"""tagger.tune's command line: its own options (jsonargparse, typed), the fit config's arguments passed on."""

import subprocess
import sys

import pytest

from tagger.tune.objectives import Budget, Pick
from tagger.tune.options import parse


def test_tuning_options_are_parsed_and_the_rest_is_the_fit_config_s():
    opts, fit = parse(["--n-trials", "7", "--trainer.max_epochs", "20", "--allow-changes", "--data.batch_size=32"])
    assert opts.n_trials == 7 and opts.allow_changes and opts.out.as_posix() == "studies/tagger"
    assert opts.threads is None and parse(["--threads", "1"])[0].threads == 1
    assert fit[0] == "--config" and fit[1].endswith("configs/cnn.yaml")  # the shipped config by default
    assert fit[2:] == ["--trainer.max_epochs", "20", "--data.batch_size=32"]
    opts, fit = parse(["--objectives", "f1,latency", "--max-latency-ms", "4", "--pick=trial=3", "--config", "x.yaml"])
    assert opts.objectives == ("f1", "latency") and opts.budget == Budget(max_latency_ms=4.0)
    assert opts.pick == Pick(trial=3) and fit == ["--config", "x.yaml"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--objectives", "f1,speed"], "--objectives: unknown objective 'speed'"),
        (["--pick", "latency<=5"], "--pick: 'latency<=5' is not a pick rule"),
        (["--max-latency-ms", "0"], "max_latency_ms"),
        (["--max-latency-ms", "nan"], "max_latency_ms"),
        (["--max-params", "-3"], "max_params"),
        (["--timeout", "0"], "timeout"),
        (["--heartbeat-interval", "0"], "heartbeat_interval"),
        (["--threads", "-1"], "threads"),
        (["--threads", "1000"], "--threads: '1000' threads on this machine's"),
        (["--study-name", "../../escape"], "--study-name: '../../escape' is not a name"),
        (["--study-name", "a/b"], "--study-name: 'a/b' is not a name"),
        (["--study-name", ""], "--study-name: '' is not a name"),
        (["--study-name", "..."], "--study-name: '...' is not a name"),
        (["--study-name", " a"], "--study-name: ' a' is not a name"),
        (["--workers", "64"], "--workers: '64' workers on this machine's"),
        (["--heartbeat-interval", "60", "--grace-period", "5"], "--grace-period: 5 s is shorter than twice"),
        (["--n-trials", "0"], "n_trials"),
        (["--max-retries", "-1"], "max_retries"),
        (["--seed", "-1"], "seed"),
        (["--sampler", "grid"], "sampler"),
    ],
)
def test_a_bad_option_value_is_one_message_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_an_abbreviated_option_is_not_taken_for_a_tuning_option():
    """argparse would read --n-trial as --n-trials; here it is left to the fit config, which refuses it."""
    opts, fit = parse(["--n-trial", "2"])
    assert opts.n_trials == 50 and "--n-trial" in fit


def test_help_shows_each_option_s_default_and_the_fit_arguments():
    done = subprocess.run([sys.executable, "-m", "tagger.tune", "--help"], capture_output=True, text=True, check=True)
    assert "default: 50" in done.stdout and "default: tagger" in done.stdout  # --n-trials, --study-name
    assert "--trainer.*" in done.stdout and "--role" not in done.stdout
