"""The search space file: Optuna distributions from YAML, conditional keys, start trials, and the pre-flight edges,
each mistake refused with the key named."""

import json
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import FAMILIES, REPO, tiny_args

from tagger.errors import TaggerError
from tagger.fit_cli import build
from tagger.tune.search_space import (
    edge_values,
    example_values,
    load_search_space,
    load_start_points,
    suggest,
    to_cli_args,
    trial_params,
)


def space_file(tmp_path: Path, space: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1, "high": 0}, "`low <= high` must hold"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, "`low > 0` must hold for `log=True`"),
        ({"type": "normal"}, "int, float or categorical"),
        ({"type": "categorical", "choices": []}, "non-empty list of choices"),
        (
            {"type": "float", "low": 0.1, "high": 1, "loq": True},
            r"a float takes only high, log, low, step, not \['loq'\]",
        ),
        ({"type": "float", "low": 0.1, "high": 1, "log": "yes"}, "log must be true or false"),
        ({"type": "int", "low": 1, "high": 9, "step": 0}, "`step > 0` must hold"),
        ({"type": "int", "low": 1, "high": 9, "step": 0.5}, "whole numbers"),
        ({"type": "float", "low": 0.1, "high": 1, "step": 0.1, "log": True}, "step.* is not supported when .log. is"),
        ({"type": "float", "low": "small", "high": 1}, "low must be a number"),
        (
            {"type": "categorical", "choices": [1, 2], "log": True},
            r"a categorical takes only choices, when, not \['log'\]",
        ),
    ],
)
def test_a_bad_distribution_is_one_message_naming_the_key(tmp_path, spec, message):
    with pytest.raises(TaggerError, match=f"'model.lr'.*{message}"):
        load_search_space(space_file(tmp_path, {"model.lr": spec}))


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model.lr: {type: float, low: 1e-5, high: 1e-2, log: true}\n")
    lr = load_search_space(path)["model.lr"].distribution
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-2, True)


def test_an_unknown_space_lists_every_shipped_one():
    shipped = sorted(path.stem.removeprefix("search_space_") for path in (REPO / "configs").glob("search_space_*.yaml"))
    assert {"default", "networks", "cost", "seed"} <= set(shipped)
    with pytest.raises(TaggerError, match=f"a shipped space: {', '.join(shipped)}$"):
        load_search_space("nosuch")


def test_the_lesson_s_space_ships_and_builds(data_dir, tmp_path):
    space = load_search_space("seed")
    assert space == load_search_space(REPO / "configs" / "search_space_seed.yaml")
    assert set(space) == {
        "model.net.embedding_dim",
        "model.net.num_filters",
        "model.net.hidden_dim",
        "model.net.dropout_p",
        "model.lr",
    }
    lr = space["model.lr"].distribution
    assert lr.log and (lr.low, lr.high) == (5e-5, 5e-4)
    cli = build([*tiny_args(data_dir, tmp_path), *to_cli_args(example_values(space))])
    assert cli.model.hparams.net["init_args"]["embedding_dim"] == 128


def test_a_conditional_space_suggests_only_the_chosen_family_s_keys_after_the_choice(tmp_path):
    space = load_search_space(space_file(tmp_path, FAMILIES))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    own = {"tagger.models.cnn.CharCNN": "model.net.num_filters", "test_network_plugin.MeanBag": "model.net.dim"}
    chosen = set()
    for _ in range(20):
        params = suggest(trial := study.ask(), space)
        study.tell(trial, 0.0)
        assert set(params) == {"model.net", "model.lr", own[params["model.net"]]}
        keys = list(params)
        assert keys.index(own[params["model.net"]]) == keys.index("model.net") + 1  # class path, then its arguments
        chosen.add(params["model.net"])
    assert len(chosen) == 2


def test_a_when_that_names_no_choice_and_a_key_with_two_kinds_of_distribution_are_refused(tmp_path):
    bad = {
        "model.net": FAMILIES["model.net"]
        | {"when": {"no.Such": {"model.net.dim": {"type": "int", "low": 1, "high": 2}}}}
    }
    with pytest.raises(TaggerError, match=r"when names \['no.Such'\]"):
        load_search_space(space_file(tmp_path, bad))
    lr_log = {"model.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}}
    lr_linear = {"model.lr": {"type": "float", "low": 1e-3, "high": 1e-2}}
    two = {
        "model.net": FAMILIES["model.net"]
        | {"when": dict(zip(FAMILIES["model.net"]["choices"], [lr_log, lr_linear], strict=True))}
    }
    with pytest.raises(TaggerError, match="'model.lr' is searched in several places"):
        load_search_space(space_file(tmp_path, two))
    two["model.net"]["when"]["test_network_plugin.MeanBag"]["model.lr"] = {"type": "categorical", "choices": [1e-3]}
    assert (
        load_search_space(space_file(tmp_path, two))["model.net"].when["test_network_plugin.MeanBag"]["model.lr"].fixed
    )


def test_the_default_space_searches_the_converged_families_and_starts_from_configs_linear_yaml():
    space = load_search_space("default")
    (start,) = load_start_points("default")
    assert start["model.C"] == 3.0 and start["data.features"] == "tfidf" and start["model.weighting"] == "balanced"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(8):
        params = suggest(trial := study.ask(), space)
        study.tell(trial, 0.0)
        assert trial_params(space, study.trials[-1].params) == params  # fixed settings back from what Optuna stored
        assert params["model.solver"] == "lbfgs" and params["data.batch_size"] is None  # L-BFGS: full batch
        assert params["model.net"] == "tagger.models.ngram.NgramNet" and params["model.net.hidden_dim"] == 0
        seen.add(params["data.features"])
        assert ("data.embedding.alpha" in params) == (params["data.features"] == "hybrid")
    assert seen == {"tfidf", "hybrid"}


def test_the_networks_space_chooses_a_network_and_only_its_keys():
    space = load_search_space("networks")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(8):
        params = suggest(trial := study.ask(), space)
        study.tell(trial, 0.0)
        assert params["model.solver"] == "adam"
        seen.add(net := params["model.net"])
        assert set(params) - {"model.solver", "model.net"} == set(space["model.net"].when[net])
    assert seen == {"tagger.models.cnn.CharCNN", "tagger.models.ngram.NgramNet"}


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ([{"model.lr": 5.0}], "sets 'model.lr' to 5.0, outside its distribution"),
        ([{"model.nope": 1}], r"sets \['model.nope'\], not searched"),
        ({"model.lr": 1e-3}, "start must be a list of mappings"),
    ],
)
def test_a_bad_start_trial_is_refused(tmp_path, start, message):
    path = space_file(tmp_path, {"model.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}, "start": start})
    with pytest.raises(TaggerError, match=message):
        load_start_points(path)


def test_edges_build_each_extreme_once_with_its_branch_and_without_its_top_level_siblings(tmp_path):
    space = load_search_space(space_file(tmp_path, FAMILIES))
    edges = edge_values(space)
    assert len({json.dumps(params, sort_keys=True) for _, _, params in edges}) == len(edges)
    mean_bag = [params for key, value, params in edges if value == "test_network_plugin.MeanBag"]
    assert mean_bag == [{"model.net": "test_network_plugin.MeanBag", "model.net.dim": 2}]  # no model.lr, no CNN keys
    assert ("model.lr", 1e-2, {"model.lr": 1e-2}) in edges
