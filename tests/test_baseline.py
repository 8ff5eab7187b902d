import io
import json
from pathlib import Path

import numpy as np
import pytest

from tagger import baseline, evaluate, predict
from tagger.baseline_model import FORMAT, Baseline, Trained, report, train
from tagger.data.datamodule import TaggerDataModule
from tagger.data.dataset import load_projects
from tagger.errors import TaggerError
from tagger.loading import load_model
from tagger.metrics import best_threshold, classification_report

MIN_TAG_FREQ = 10  # enough tags on the 400 projects, none missing from the train split


@pytest.fixture(scope="module")
def dm(data_dir) -> TaggerDataModule:
    return TaggerDataModule(str(data_dir), min_tag_freq=MIN_TAG_FREQ)


@pytest.fixture(scope="module")
def fitted(dm, tmp_path_factory) -> tuple[Trained, Path]:
    """The baseline fitted as the command fits it (threshold on val), and the file it saved."""
    trained = train(dm, C=3.0, threshold_split="val")
    path = tmp_path_factory.mktemp("baseline") / "baseline.npz"
    trained.model.save(path)
    return trained, path


def tuned_on(trained: Trained, dm: TaggerDataModule, split: str) -> float:
    rows = dm.corpus.splits[split]
    return best_threshold(dm.corpus.y[rows], trained.pipeline.predict_proba([dm.corpus.texts[i] for i in rows]))


def test_the_saved_file_gives_the_fitted_pipelines_probabilities(fitted, dm, data_dir):
    """Raw texts, as predict gets them: the loaded model cleans them as the corpus was cleaned."""
    trained, path = fitted
    texts = [p.text for p in load_projects(data_dir / "projects.json")[:60]] + ["", "🙂", "GANs in PyTorch!"]
    loaded = load_model(path)
    assert isinstance(loaded, Baseline)
    expected = trained.pipeline.predict_proba([dm.cleaning(t) for t in texts])
    assert loaded.predict_proba(texts) == pytest.approx(expected, abs=1e-6)
    assert (loaded.classes, loaded.threshold) == (dm.classes, trained.model.threshold)
    assert (loaded.cleaning, loaded.label_mapping) == (dm.cleaning, dm.state_dict()["label_mapping"])


def test_the_threshold_is_tuned_on_val_not_on_test(fitted, dm):
    trained, _ = fitted
    assert trained.model.threshold == tuned_on(trained, dm, "val") != tuned_on(trained, dm, "test")
    on_train = train(dm, C=3.0, threshold_split="train")
    assert on_train.model.threshold == pytest.approx(tuned_on(trained, dm, "train"))
    assert on_train.model.threshold != pytest.approx(trained.model.threshold)


def test_the_command_fits_reports_the_test_split_and_saves(fitted, dm, data_dir, tmp_path, capsys):
    trained, _ = fitted
    output = tmp_path / "model.npz"
    args = ["--data.data_dir", str(data_dir), "--data.min_tag_freq", str(MIN_TAG_FREQ), "--output", str(output)]
    baseline.main([*args, "--json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["threshold"] == pytest.approx(tuned_on(trained, dm, "val")) and report["threshold_split"] == "val"
    test = dm.corpus.splits["test"]
    probs = trained.pipeline.predict_proba([dm.corpus.texts[i] for i in test])
    expected = classification_report(dm.corpus.y[test], (probs >= report["threshold"]).astype(int), dm.classes)
    assert report["overall"] == pytest.approx(expected["overall"]) and report["num_samples"] == len(test)
    assert list(report["per_class"]) == dm.classes and report["train_seconds"] > 0
    assert f"baseline saved to {output}" in err
    assert load_model(output).predict_proba(["a gan for faces"]) == pytest.approx(
        trained.model.predict_proba(["a gan for faces"]), abs=1e-6
    )


def test_predict_and_evaluate_load_the_saved_file(fitted, dm, data_dir, capsys, monkeypatch):
    trained, path = fitted
    predict.main(["--model", str(path), "generative adversarial networks for faces", "🙂"])
    out, err = capsys.readouterr()
    tagged, empty = (json.loads(line) for line in out.splitlines())
    (probs,) = trained.model.predict_proba([tagged["text"]])
    assert list(tagged["probabilities"]) == dm.classes
    assert tagged["tags"] == [c for c, p in zip(dm.classes, probs, strict=True) if p >= trained.model.threshold]
    assert empty["tags"] == [] and "note" in empty and "nothing is left after cleaning" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    predict.main(["--model", str(path)])
    assert capsys.readouterr().out == ""

    evaluate.main(["--json", "--model", str(path), "--projects", str(data_dir / "projects.json")])
    report = json.loads(capsys.readouterr().out)
    assert list(report["per_class"]) == dm.classes and report["threshold"] == trained.model.threshold
    assert report["num_samples"] == len(dm.corpus.texts) and report["skipped_projects"] == 400 - len(dm.corpus.texts)


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    return path


def test_a_foreign_or_corrupt_file_is_one_error(fitted, tmp_path, capsys):
    _, path = fitted
    with np.load(path) as saved:
        arrays = dict(saved)
    foreign = write_npz(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(TaggerError, match="an .npz without tagger-baseline/1 metadata"):
        load_model(foreign)
    pickled = write_npz(tmp_path / "pickled.npz", meta=np.array([{"format": FORMAT}], dtype=object))
    with pytest.raises(TaggerError, match="not a readable tagger baseline .*allow_pickle"):
        load_model(pickled)
    bad_json = write_npz(tmp_path / "json.npz", **arrays | {"meta": np.frombuffer(b"{oops", dtype=np.uint8)})
    with pytest.raises(TaggerError, match="not a readable tagger baseline"):
        load_model(bad_json)
    short = write_npz(tmp_path / "short.npz", **arrays | {"coef": arrays["coef"][:, 1:]})
    with pytest.raises(TaggerError, match="do not fit"):
        load_model(short)
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(TaggerError):
        load_model(tmp_path / "cut.npz")
    with pytest.raises(SystemExit, match=r"^tagger: error: .*short.npz: coefficients"):
        predict.main(["--model", str(short), "text"])


def test_an_output_that_cannot_be_written_is_one_error(fitted, tmp_path):
    trained, _ = fitted
    with pytest.raises(TaggerError, match="cannot write the model"):
        trained.model.save(tmp_path / "no" / "such" / "folder.npz")


def test_the_command_prints_evaluate_s_table_and_saves_under_baselines(fitted, dm, data_dir, tmp_path, capsys):
    """The same per-tag table as tagger.evaluate (not 250 lines of JSON); the model in a git-ignored folder."""
    baseline.main(["--data.data_dir", str(data_dir), "--data.min_tag_freq", str(MIN_TAG_FREQ)])
    out, err = capsys.readouterr()
    figures = report(fitted[0], dm.corpus)
    assert out == evaluate.table(figures) + "\n"
    assert out.splitlines()[0].split() == ["precision", "recall", "f1-score", "support"]
    assert err.startswith("tagger: baseline saved to baselines/baseline.npz (")
    assert (tmp_path / "baselines" / "baseline.npz").is_file()


def test_a_tag_missing_from_the_train_split_is_refused(data_dir):
    """min_tag_freq 1 keeps tags seen once; the split can leave such a tag out of train."""
    with pytest.raises(TaggerError, match="on no .* project of the train split; raise --data.min_tag_freq"):
        train(TaggerDataModule(str(data_dir), min_tag_freq=1), C=3.0, threshold_split="val")


def test_settings_that_leave_no_terms_are_one_line(data_dir, tmp_path):
    """Not scikit-learn's traceback of an empty vocabulary: the baseline fits its features as fit does."""
    args = ["--data.data_dir", str(data_dir), "--data.min_tag_freq", str(MIN_TAG_FREQ), "--data.tfidf.min_df", "100000"]
    with pytest.raises(SystemExit, match=r"^tagger: error: the TF-IDF settings leave no word n-grams \(min_df 100000"):
        baseline.main([*args, "--output", str(tmp_path / "model.npz")])


def test_non_finite_weights_are_refused(fitted, tmp_path, capsys):
    """A NaN coefficient would give a bare NaN probability in predict's JSON, and evaluate would report 0.000."""
    _, path = fitted
    with np.load(path) as saved:
        arrays = dict(saved)
    arrays["coef"] = arrays["coef"].copy()
    arrays["coef"][0, :2] = np.nan
    nan = write_npz(tmp_path / "nan.npz", **arrays)
    with pytest.raises(SystemExit) as done:
        predict.main(["--model", str(nan), "generative adversarial networks"])
    assert str(done.value) == (
        f"tagger: error: {nan}: its weights hold NaN or infinite values, in coef (2); the training diverged or the "
        "file was damaged: train the model again"
    )
    assert capsys.readouterr().out == ""
