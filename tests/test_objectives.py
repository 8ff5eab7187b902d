"""The objectives, budgets and pick rules a user writes on the command line."""

import pytest

from tagger.tune.objectives import Budget, Pick, parse_objectives


def test_objectives_list_f1_first_and_each_once():
    assert parse_objectives("f1") == ("f1",)
    assert parse_objectives("f1, latency,size") == ("f1", "latency", "size")
    for bad, message in [("f1,speed", "unknown objective 'speed'"), ("latency,f1", "f1 first"), ("f1,f1", "once")]:
        with pytest.raises(ValueError, match=message):
            parse_objectives(bad)


def test_a_budget_s_excess_is_optuna_s_constraint_value():
    budget = Budget(max_latency_ms=5.0, max_params=1000)
    assert budget.excess({"latency_ms": 7.5, "num_params": 400.0}) == {"latency_ms": 2.5, "num_params": -600.0}
    assert Budget().excess({"latency_ms": 7.5}) == {}


def test_pick_rules_parse_and_print_back():
    for text in ("f1", "trial=17", "latency_ms<=5", "latency_ms<=5,num_params<=200000"):
        assert str(Pick.parse(text)) == text
    assert Pick.parse("latency_ms <= 2.5").admits({"latency_ms": 2.5})
    assert not Pick.parse("latency_ms<=2.5").admits({})  # a trial without a measured cost meets no budget
    for bad in ("latency<=5", "trial=x", "num_params<=lots", "f1>0.5"):
        with pytest.raises(ValueError):
            Pick.parse(bad)
