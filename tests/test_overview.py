"""The opening of summary.md and report.html on instant studies: the search space by key, the trials per family."""

import optuna
import yaml
from conftest import REPO
from optuna.trial import TrialState, create_trial

from tagger.tune.overview import Table, family_rows, markdown, space_rows, to_html
from tagger.tune.search_space import load_search_space


def test_the_space_is_listed_by_key_with_its_range_and_the_choice_it_is_searched_under():
    rows = space_rows(load_search_space(REPO / "configs" / "search_space_default.yaml"))
    assert rows[0] == ["model.solver", "fixed", "lbfgs", "always"]
    assert ["model.C", "float, log", "0.1 to 100", "model.solver=lbfgs"] in rows
    assert ["data.features", "categorical", "tfidf, hybrid", "model.solver=lbfgs"] in rows
    assert ["data.embedding.alpha", "float, log", "0.25 to 4", "model.solver=lbfgs, data.features=hybrid"] in rows
    rows = space_rows(load_search_space(REPO / "configs" / "search_space_networks.yaml"))
    cnn = "model.net=tagger.models.cnn.CharCNN"
    assert ["model.net.hidden_dim", "int, step 64", "64 to 512", cnn] in rows
    assert ["model.net.embedding_dim", "int, log", "64 to 512", cnn] in rows


def trial(state: TrialState, config: dict | None, value: float | None = None) -> optuna.trial.FrozenTrial:
    attrs = {"config": yaml.safe_dump(config)} if config else {}
    return create_trial(state=state, value=value, user_attrs=attrs)


def test_each_family_counts_its_trials_by_state_and_shows_its_best_against_the_winner():
    linear = {"model": {"solver": "lbfgs", "net": {"class_path": "tagger.models.ngram.NgramNet"}}}
    cnn = {"model": {"solver": "adam", "net": {"class_path": "tagger.models.cnn.CharCNN"}}}
    study = optuna.create_study(direction="maximize")
    for state, config, value in [
        (TrialState.COMPLETE, linear, 0.70),
        (TrialState.COMPLETE, linear, 0.68),
        (TrialState.PRUNED, cnn, None),
        (TrialState.COMPLETE, cnn, 0.61),
        (TrialState.FAIL, cnn, None),
        (TrialState.FAIL, None, None),  # failed before it had a config
    ]:
        study.add_trial(trial(state, config, value))
    study.enqueue_trial({})  # queued: not counted
    rows = family_rows(study, study.best_trial)
    assert rows == [
        ["?", "0", "0", "1", "-", "-", "-"],
        ["CharCNN", "1", "1", "1", "3", "0.6100", "-0.0900"],
        ["linear", "2", "0", "0", "0", "0.7000", "+0.0000"],
    ]


def test_blocks_render_to_markdown_and_to_escaped_html():
    blocks = [("Trials by family", Table(["family", "complete"], [["<b>", "1"]])), ("Found", ["a & b"])]
    table = ["| family | complete |", "|---|---|", "| <b> | 1 |"]
    assert markdown(blocks) == ["", "## Trials by family", "", *table, "", "## Found", "", "- a & b"]
    assert to_html(blocks) == (
        "<h2>Trials by family</h2><table><tr><th>family</th><th>complete</th></tr><tr><td>&lt;b&gt;</td><td>1</td>"
        "</tr></table><h2>Found</h2><ul><li>a &amp; b</li></ul>"
    )
