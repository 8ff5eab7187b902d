import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import config_args
from mlflow.pyfunc.model import PythonModelContext

from tagger import evaluate, evaluation, predict
from tagger.baseline_model import train
from tagger.data.datamodule import TaggerDataModule, fingerprint
from tagger.data.tokenizer import pad_batch
from tagger.errors import TaggerError
from tagger.fit_cli import cli_main
from tagger.loading import Tagger, load_model, save_lean
from tagger.metrics import score
from tagger.pyfunc import TaggerPyfunc
from tagger.registry import ARTIFACT

FIXTURES = Path(__file__).parent / "data"


def test_tagger_predicts_from_the_checkpoint_alone(trained):
    built, best = trained
    tagger = Tagger.load(best)
    assert tagger.classes == built.datamodule.classes
    assert tagger.threshold == pytest.approx(built.model.threshold.item())
    text = "A transformer for text classification with pytorch"
    (result,) = tagger.predict([text])
    (probs,) = tagger.predict_proba([text])
    assert list(result["probabilities"]) == tagger.classes
    assert result["tags"] == [c for c, p in zip(tagger.classes, probs, strict=True) if p >= tagger.threshold]


def test_predictions_match_the_trained_module(trained, data_dir):
    """Same weights, cleaning, tokenizer and padding as in training (texts one by one: the seed's model
    takes the max over padded positions too, so the output depends on how far a batch is padded)."""
    built, best = trained
    tagger = Tagger.load(best)
    dm = built.datamodule
    built.model.eval()
    for i in dm.corpus.splits["test"][:5]:
        text = dm.corpus.texts[i]  # already clean; cleaning clean text changes nothing
        tokens = pad_batch([dm.tokenizer.encode(text)])
        with torch.no_grad():
            expected = built.model(tokens).sigmoid().numpy()
        assert tagger.predict_proba([text]) == pytest.approx(expected, abs=1e-5)


def test_predict_command_reads_arguments_and_stdin(trained, capsys, monkeypatch):
    _, best = trained
    predict.main(["--model", str(best), "gan for faces", "bert nlp"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in lines] == ["gan for faces", "bert nlp"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("one\ntwo\n"))
    predict.main(["--model", str(best)])
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_evaluate_prints_a_table_or_the_report(trained, data_dir, tmp_path, capsys):
    """A per-tag table by default; the whole report as JSON with --json, and in the --output file."""
    _, best = trained
    args = ["--model", str(best), "--projects", str(data_dir / "projects.json")]
    evaluate.main([*args, "--json", "--output", str(tmp_path / "report.json")])
    report = json.loads(capsys.readouterr().out)
    assert set(report["overall"]) == {"precision", "recall", "f1", "f1_weighted", "f1_micro"}
    assert 0 < report["num_samples"] <= 400 and set(report["per_class"]) == set(Tagger.load(best).classes)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    evaluate.main(args)
    head, _, *lines = capsys.readouterr().out.splitlines()
    assert head.split() == ["precision", "recall", "f1-score", "support"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[: len(report["per_class"])]}
    assert rows == {
        tag: [f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"])]
        for tag, c in report["per_class"].items()
    }
    macro = next(line.split() for line in lines if line.split()[:2] == ["macro", "avg"])
    assert macro[2:] == [f"{report['overall'][k]:.3f}" for k in ("precision", "recall", "f1")]


def test_evaluate_names_the_missing_file(tmp_path):
    """A wrong --projects is named (not the tags.json that is missing beside it too); then a missing tags.json,
    and where it was looked for. Both before the model is loaded."""
    missing = tmp_path / "elsewhere" / "projects.json"
    with pytest.raises(SystemExit) as done:
        evaluate.main(["--model", "unused.ckpt", "--projects", str(missing)])
    assert str(done.value) == f"tagger: error: --projects {missing}: file not found"
    with pytest.raises(TaggerError, match=f"^{re.escape(str(missing))}: file not found$"):
        evaluation.evaluate(None, missing, missing.with_name("tags.json"))  # the projects are read first
    (tmp_path / "projects.json").write_text("[]")
    with pytest.raises(SystemExit) as done:
        evaluate.main(["--model", "unused.ckpt", "--projects", str(tmp_path / "projects.json")])
    assert str(done.value) == (
        f"tagger: error: {tmp_path / 'tags.json'}: file not found (tags.json is looked for beside --projects); "
        "give --tags FILE"
    )


def test_the_table_has_a_threshold_column_when_each_tag_has_its_own():
    figures = {"precision": 1.0, "recall": 0.5, "f1": 2 / 3}
    report = {
        "overall": figures | {"f1_weighted": 0.6, "f1_micro": 0.7},
        "per_class": {"gans": figures | {"support": 2}, "graphs": figures | {"support": 1}},
        "threshold": [0.25, 0.5],
        "num_samples": 3,
        "absent_classes": [],
    }
    head, _, gans, graphs, *_ = evaluate.table(report).splitlines()
    assert head.split()[-1] == "threshold"
    assert gans.split() == ["gans", "1.000", "0.500", "0.667", "2", "0.250"] and graphs.split()[-1] == "0.500"


def test_network_class_that_is_not_a_module_is_refused(trained, tmp_path):
    _, best = trained
    ckpt = torch.load(best, weights_only=True)
    ckpt["hyper_parameters"]["net"]["class_path"] = "collections.OrderedDict"
    torch.save(ckpt, tmp_path / "odd.ckpt")
    with pytest.raises(TaggerError, match=r"collections.OrderedDict is not an nn.Module subclass$"):
        Tagger.load(tmp_path / "odd.ckpt")
    ckpt["hyper_parameters"]["net"]["class_path"] = "no_such_package.Net"
    torch.save(ckpt, tmp_path / "gone.ckpt")
    with pytest.raises(TaggerError, match="no_such_package.Net cannot be imported"):
        Tagger.load(tmp_path / "gone.ckpt")


def test_bad_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(TaggerError, match="not found"):
        Tagger.load(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="not a loadable tagger checkpoint"):
        predict.main(["--model", str(tmp_path / "junk.ckpt"), "text"])


def test_evaluate_averages_over_present_classes_and_counts_skipped_projects(trained, tmp_path):
    """A file where one class never occurs and one project has no known tag."""
    _, best = trained
    tagger = Tagger.load(best)
    absent, kept = tagger.classes[0], tagger.classes[1:]
    projects = [
        {"id": i, "title": f"project {i}", "description": "text", "tags": [kept[i % len(kept)]]}
        for i in range(2 * len(kept))
    ] + [{"id": 99, "title": "untagged", "description": "text", "tags": ["no-such-tag"]}]
    (tmp_path / "projects.json").write_text(json.dumps(projects))
    (tmp_path / "tags.json").write_text(json.dumps([{"tag": t, "aliases": [], "parents": []} for t in tagger.classes]))
    report = evaluation.evaluate(tagger, tmp_path / "projects.json", tmp_path / "tags.json")
    assert report["absent_classes"] == [absent] and report["skipped_projects"] == 1
    present = [report["per_class"][c]["f1"] for c in kept]
    assert report["overall"]["f1"] == pytest.approx(sum(present) / len(present))


def test_checkpoint_with_flat_cnn_hyperparameters_still_predicts_the_same():
    """A tiny checkpoint written before the network was pluggable: CharCNN's arguments at the top level
    of hyper_parameters. With the lesson's pooling (padding in the max, as it was written) it gives the probabilities
    that tagger.predict gave then; loaded as it is, it gets the fix: each text scores as it does alone."""
    path = FIXTURES / "flat_hparams.ckpt"
    assert "embedding_dim" in torch.load(path, weights_only=True)["hyper_parameters"]
    expected = json.loads((FIXTURES / "flat_hparams.json").read_text())
    tagger = Tagger.load(path)
    assert tagger.threshold == pytest.approx(expected["threshold"])
    alone = np.vstack([tagger.predict_proba([text]) for text in expected["texts"]])
    assert tagger.predict_proba(expected["texts"]) == pytest.approx(alone, abs=1e-6)
    tagger.module.net.pool_over_padding = True
    assert tagger.predict_proba(expected["texts"]) == pytest.approx(np.array(expected["probabilities"]), abs=1e-5)


@pytest.mark.parametrize("content", [torch.zeros(3), [1, 2], {"state_dict": {}}], ids=["tensor", "list", "dict"])
def test_a_pt_file_that_is_not_a_checkpoint_is_one_message(tmp_path, content):
    torch.save(content, tmp_path / "model.pt")
    with pytest.raises(TaggerError, match="not a tagger checkpoint"):
        Tagger.load(tmp_path / "model.pt")


def test_texts_that_clean_to_nothing_get_no_tags_and_a_note(trained, capsys):
    _, best = trained
    texts = ["", "   ", "🙂🙂🙂", "Привет мир", "!!! ??? ...", "a transformer for text classification"]
    predict.main(["--model", str(best), *texts])
    done = capsys.readouterr()
    results = [json.loads(line) for line in done.out.splitlines()]
    assert [r["tags"] for r in results[:5]] == [[]] * 5 and all("note" in r for r in results[:5])
    assert "note" not in results[5] and len(results[5]["probabilities"]) == len(Tagger.load(best).classes)
    assert done.err.count("nothing is left after cleaning") == 5


@pytest.mark.integration  # a real pipe to a real process
def test_a_closed_output_pipe_ends_quietly(trained):
    _, best = trained
    texts = "\n".join(f"text number {i} about gans and transformers" for i in range(3000))
    command = f"{sys.executable} -m tagger.predict --model {best} | head -1"
    done = subprocess.run(["bash", "-c", command], input=texts, capture_output=True, text=True)
    assert len(done.stdout.splitlines()) == 1 and "Traceback" not in done.stderr and "Error" not in done.stderr


@pytest.fixture(scope="module")
def model_files(trained, data_dir, tmp_path_factory) -> dict[str, Path]:
    """A model file of each kind: a char-CNN and an n-gram (TF-IDF) checkpoint, and a baseline .npz."""
    root = tmp_path_factory.mktemp("kinds")
    batches = ("--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2")
    ngram = cli_main(["fit", *config_args("ngram.yaml", data_dir, root, *batches)]).trainer.checkpoint_callback
    baseline = root / "baseline.npz"
    train(TaggerDataModule(str(data_dir), min_tag_freq=10), C=3.0, threshold_split="val").model.save(baseline)
    return {"cnn": trained[1], "ngram": Path(ngram.best_model_path), "baseline": baseline}


@pytest.mark.parametrize("kind", ["cnn", "ngram", "baseline"])
def test_an_empty_batch_is_an_empty_answer(model_files, kind, capsys, monkeypatch):
    """Empty stdin to predict, and no rows to the MLflow model: nothing out, no error."""
    model = load_model(model_files[kind])
    assert model.predict([]) == [] and model.predict_proba([]).shape == (0, len(model.classes))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    predict.main(["--model", str(model_files[kind])])
    assert capsys.readouterr().out == ""
    served = TaggerPyfunc()
    served.load_context(PythonModelContext(artifacts={ARTIFACT: str(model_files[kind])}, model_config={}))
    answer = served.predict(None, pd.DataFrame({"text": pd.Series([], dtype=str)}))
    assert answer.empty and list(answer.columns) == ["tags", "probabilities"]


def test_non_finite_weights_are_refused_by_every_loader(trained, tmp_path):
    """A NaN weight would give NaN probabilities (bare NaN in the JSON) and a score of 0 without a word."""
    _, best = trained
    ckpt = torch.load(best, weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.dim() == 2)
    ckpt["state_dict"][name][0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    torch.save(ckpt, tmp_path / "nan.ckpt")
    save_lean(tmp_path / "nan.ckpt", tmp_path / "lean.ckpt")
    for path in (tmp_path / "nan.ckpt", tmp_path / "lean.ckpt"):
        with pytest.raises(SystemExit) as done:
            predict.main(["--model", str(path), "text"])
        assert str(done.value) == (
            f"tagger: error: {path}: its weights hold NaN or infinite values, in {name} (3); the training diverged "
            "or the file was damaged: train the model again"
        )


def test_weights_that_do_not_fit_the_network_are_one_line(trained, tmp_path):
    _, best = trained
    ckpt = torch.load(best, weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.dim() == 2)
    ckpt["state_dict"][name] = ckpt["state_dict"][name][:, :1].clone()
    torch.save(ckpt, tmp_path / "shapes.ckpt")
    with pytest.raises(TaggerError, match=rf"^{re.escape(str(tmp_path / 'shapes.ckpt'))}: its weights do not fit "):
        load_model(tmp_path / "shapes.ckpt")
    with pytest.raises(SystemExit, match=rf"size mismatch for {re.escape(name)}: .*use a checkpoint as fit wrote it$"):
        predict.main(["--model", str(tmp_path / "shapes.ckpt"), "text"])


def test_a_stopword_only_text_is_blamed_on_stopword_removal(trained, capsys):
    predict.main(["--model", str(trained[1]), "the and of", "a", "🙂"])
    notes = [json.loads(line)["note"] for line in capsys.readouterr().out.splitlines()]
    stopwords = "nothing is left after cleaning (stopword removal left nothing: the text has only words such as "
    assert notes[0].startswith(stopwords) and notes[1].startswith(stopwords)
    assert notes[2] == "nothing is left after cleaning (no Latin letters or digits)"


def test_evaluate_footer_names_only_what_is_left_out(capsys):
    report = {"skipped_projects": 501, "absent_classes": [], "per_class": {"a": {}, "b": {}}, "trained_on": None}
    assert evaluate.notes(report) == ["501 projects skipped (none of the model's tags)"]
    report |= {"skipped_projects": 0, "absent_classes": ["b"]}
    assert evaluate.notes(report) == ["macro figures over the 1 tags present; 1 absent: b"]


def test_evaluate_scores_a_split_of_fit_s_data_as_its_fit_cut_it(trained, data_dir, capsys):
    """--split test: the test split of the model's own fit (its seed, sizes, tag filter), no project it was trained
    on; --split train and a whole projects file warn, counting the projects trained on."""
    built, best = trained
    corpus, tagger = built.datamodule.corpus, Tagger.load(best)
    args = ["--model", str(best), "--data-dir", str(data_dir), "--json"]
    evaluate.main([*args, "--split", "test"])
    done = capsys.readouterr()
    report, test = json.loads(done.out), corpus.splits["test"]
    assert (report["split"], report["num_samples"], report["trained_on"]) == ("test", len(test), 0)
    probs = tagger.proba_of_cleaned([corpus.texts[i] for i in test], [corpus.raw[i] for i in test])
    expected = score(corpus.y[test], probs, tagger.threshold, tagger.classes, macro_over_present=True)
    assert report["overall"] == pytest.approx(expected["overall"]) and "warning" not in done.err

    evaluate.main([*args, "--split", "train"])
    train = len(corpus.splits["train"])
    assert f"tagger: warning: the model was trained on {train} of these {train} projects" in capsys.readouterr().err
    evaluate.main(["--model", str(best), "--projects", str(data_dir / "projects.json")])
    trained_on = {fingerprint(corpus.texts[i]) for i in corpus.splits["train"]}
    seen = sum(fingerprint(t) in trained_on for t in corpus.texts)
    assert (
        f"the model was trained on {seen} of these {len(corpus.texts)} projects, so its figures are optimistic; "
        "for held-out figures use --split test\n" in capsys.readouterr().err
    )


def test_evaluate_split_refuses_other_data_and_files_without_split_settings(trained, data_dir, tmp_path):
    _, best = trained
    other = tmp_path / "other"
    other.mkdir()
    projects = json.loads((data_dir / "projects.json").read_text())
    (other / "projects.json").write_text(json.dumps(projects[:-40]))
    (other / "tags.json").write_text((data_dir / "tags.json").read_text())
    with pytest.raises(SystemExit) as done:
        evaluate.main(["--model", str(best), "--split", "test", "--data-dir", str(other)])
    assert str(done.value).startswith(f"tagger: error: {other}: not the data that --model {best} was fitted on")
    ckpt = torch.load(best, weights_only=True)
    del ckpt[TaggerDataModule.__qualname__]["split"]
    torch.save(ckpt, tmp_path / "old.ckpt")
    with pytest.raises(SystemExit, match="the file does not say how its data was split"):
        evaluate.main(["--model", str(tmp_path / "old.ckpt"), "--split", "test", "--data-dir", str(data_dir)])
