"""The MLflow model: logged from code with tagger's code and pinned requirements, registered, loaded back (also
where tagger is not installed) and served over HTTP, answering as tagger.predict does for the same texts."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from conftest import TEXTS, tiny_args, tracking_store
from mlflow.tracking import MlflowClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import tagger
from tagger import cli
from tagger.errors import TaggerError
from tagger.fit_cli import cli_main
from tagger.loading import Tagger
from tagger.registry import SERVING_PACKAGES, check_model_name

# `python -I -c PREDICT MODEL_DIR TEXT...`: tagger hidden (the editable install's .pth puts src/ on sys.path
# even under -I), the model loaded as MLflow's server loads it, the texts tagged. Prints, as JSON, where tagger
# was imported from, the tags, and the top-level modules that loading and predicting imported.
PREDICT = """
import importlib.util, json, sys
from pathlib import Path
sys.path = [p for p in sys.path if not (Path(p) / "tagger").is_dir()]
assert importlib.util.find_spec("tagger") is None, "tagger is importable before the model is loaded"
before = {m.partition(".")[0] for m in sys.modules}
import mlflow, pandas
got = mlflow.pyfunc.load_model(sys.argv[1]).predict(pandas.DataFrame({"text": sys.argv[2:]}))
import tagger
modules = {m.partition(".")[0] for m in sys.modules} - before
print(json.dumps({"tagger": tagger.__file__, "tags": [list(t) for t in got["tags"]], "modules": sorted(modules)}))
"""


def model_files(registered, folder: Path) -> Path:
    """The registered model's folder (MLmodel, requirements.txt, code/, artifacts/), downloaded into folder."""
    uri, _, info = registered
    folder.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    try:
        return Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(folder)))
    finally:
        mlflow.set_tracking_uri(None)


def predict_in(python: str, model: Path, texts: list[str]) -> dict:
    """PREDICT run by python (an interpreter path) on the model folder; fails with the end of its stderr."""
    answer = subprocess.run(
        [python, "-I", "-c", PREDICT, str(model), *texts], capture_output=True, text=True, timeout=600
    )
    assert answer.returncode == 0, answer.stderr[-3000:]
    return json.loads(answer.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def model_dir(registered, tmp_path_factory) -> Path:
    return model_files(registered, tmp_path_factory.mktemp("model"))


def installed_by(requirements: list[str]) -> set[str]:
    """The distributions pip installs for requirements: each one and, transitively, what it requires here."""
    found, todo = set(), [Requirement(line) for line in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        try:
            needs = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:  # not installed here, so nothing here imports it
            continue
        for line in needs:
            need = Requirement(line)
            extras = requirement.extras | {""}
            if need.marker is None or any(need.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(need)
    return found


def test_the_logged_model_loads_and_predicts_as_tagger_predict(registered):
    uri, lean, info = registered
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(f"models:/tagger-test/{info.registered_model_version}")
    got = loaded.predict(pd.DataFrame({"text": TEXTS}))
    expected = Tagger.load(lean).predict(TEXTS)
    assert list(got["tags"].map(list)) == [r["tags"] for r in expected]
    for row, result in zip(got["probabilities"], expected, strict=True):
        assert row == pytest.approx(result["probabilities"]) or (not result["probabilities"] and not row)
    inputs = loaded.metadata.get_input_schema().inputs  # predict's record shapes: a text, else title + description
    assert [(c.name, c.required) for c in inputs] == [("text", False), ("title", False), ("description", False)]
    assert [c.name for c in loaded.metadata.get_output_schema().inputs] == ["tags", "probabilities"]


def test_the_registry_holds_the_version_with_its_tags(registered):
    uri, _, info = registered
    version = MlflowClient(uri).get_model_version("tagger-test", info.registered_model_version)
    assert version.tags["val_f1"] == "0.5" and version.run_id == info.run_id


def test_fit_with_one_switch_logs_its_curves_and_registers_its_model(data_dir, tmp_path):
    uri = tracking_store(tmp_path)
    built = cli_main(  # a relative root (the working folder is tmp_path): the tag must not depend on it
        ["fit", *tiny_args(data_dir, Path("fit")), "--mlflow.tracking_uri", uri, "--mlflow.register_model", "fitted"]
    )
    client = MlflowClient(uri)
    (version,) = client.search_model_versions("name='fitted'")
    run = client.get_run(version.run_id)
    assert "val/loss" in run.data.metrics and run.data.params["lr"] == str(built.model.hparams.lr)
    assert run.info.run_name == "cnn-CharCNN"  # the config file and the network, not a random name
    best = built.trainer.checkpoint_callback
    assert version.tags["checkpoint"] == str(tmp_path / best.best_model_path)
    assert float(version.tags["val_loss"]) == pytest.approx(best.best_model_score.item())
    lean = Path(built.trainer.checkpoint_callback.best_model_path).with_name("model.ckpt")
    mlflow.set_tracking_uri(uri)
    try:
        got = mlflow.pyfunc.load_model("models:/fitted/1").predict(pd.DataFrame({"text": TEXTS}))
    finally:
        mlflow.set_tracking_uri(None)
    assert list(got["tags"].map(list)) == [r["tags"] for r in Tagger.load(lean).predict(TEXTS)]


@pytest.mark.parametrize("name", ["bad/name", "a:b", "", "  ", ".", "..x"])
def test_a_name_the_registry_refuses_is_one_line_naming_the_option(name):
    with pytest.raises(TaggerError) as error:
        check_model_name(name, "--register-model")
    assert str(error.value).startswith(f"--register-model {name!r} is not a registered model name: give ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["tagger-cnn", "my model", "v1.2_final"])
def test_a_name_the_registry_takes_passes(name):
    check_model_name(name, "--register-model")


def test_fit_refuses_a_bad_registered_model_name_before_any_work(data_dir, tmp_path, monkeypatch, capsys):
    uri = tracking_store(tmp_path)
    argv = ["fit", *tiny_args(data_dir, tmp_path), "--mlflow.tracking_uri", uri, "--mlflow.register_model", "bad/name"]
    monkeypatch.setattr("sys.argv", ["tagger.cli", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert str(exit_info.value).startswith("tagger: error: --mlflow.register_model 'bad/name' is not a registered")
    assert not (tmp_path / "lightning_logs").exists() and "Epoch" not in capsys.readouterr().out


def test_the_model_pins_what_loading_needs_to_the_installed_releases(model_dir):
    pins = {r.name: str(r.specifier) for r in map(Requirement, (model_dir / "requirements.txt").read_text().split())}
    assert {"mlflow", "torch", "lightning", "scikit-learn"} <= set(pins)
    # The installed release without its local label: torch 2.13.0+cpu is pinned as torch==2.13.0.
    installed = {r.name: metadata.version(r.name).partition("+")[0] for r in map(Requirement, SERVING_PACKAGES)}
    assert pins == {name: f"=={release}" for name, release in installed.items()}


def test_the_model_ships_taggers_code(model_dir):
    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["code"] == "code" and flavor["model_code_path"].endswith("pyfunc.py")
    shipped, source = model_dir / "code" / "tagger", Path(tagger.__file__).parent
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file()) == files
    assert Path("data/stopwords.txt") in files and Path("loading.py") in files  # package data too


@pytest.mark.integration  # a process of its own
def test_the_model_loads_and_predicts_where_tagger_is_not_installed(registered, model_dir):
    """Loaded in a process that cannot import tagger from site-packages or src/: the shipped code answers as
    tagger.predict does, and everything the load imported is installed by the model's requirements.txt."""
    _, lean, _ = registered
    got = predict_in(sys.executable, model_dir, TEXTS)
    assert Path(got["tagger"]).is_relative_to(model_dir / "code")
    assert got["tags"] == [r["tags"] for r in Tagger.load(lean).predict(TEXTS)]
    owners = metadata.packages_distributions()  # top-level module -> the distributions that provide it
    imported = {tuple(owners[m]) for m in got["modules"] if m in owners and m != "tagger"}
    installed = installed_by((model_dir / "requirements.txt").read_text().split())
    missing = [names for names in imported if not {canonicalize_name(n) for n in names} & installed]
    assert not missing, f"loading imports {missing}, which the model's requirements.txt does not install"
