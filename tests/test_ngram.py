"""The n-gram family: TF-IDF rows fitted on the train split, a network on them, and the loss weightings,
through the same fit, test, predict and evaluate as the CNN."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import config_args
from sklearn.feature_extraction.text import TfidfVectorizer

from tagger import evaluate
from tagger.data.datamodule import TaggerDataModule
from tagger.data.features import TfidfFeatures, TfidfSettings
from tagger.errors import TaggerError
from tagger.fit_cli import cli_main
from tagger.loading import Tagger
from tagger.models.ngram import NgramNet
from tagger.module import term_weights


def ngram_args(data_dir: Path, root: Path, *extra: str) -> list[str]:
    return config_args("ngram.yaml", data_dir, root, "--trainer.max_epochs", "3", *extra)


@pytest.fixture(scope="module")
def fitted(data_dir, tmp_path_factory):
    built = cli_main(["fit", *ngram_args(data_dir, tmp_path_factory.mktemp("ngram"))])
    return built, Path(built.trainer.checkpoint_callback.best_model_path)


def test_features_are_fitted_on_the_train_split_only(data_dir):
    dm = TaggerDataModule(str(data_dir), min_tag_freq=10, features="tfidf")
    train = [dm.corpus.texts[i] for i in dm.corpus.splits["train"]]
    alone = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True).fit(train)
    assert dm.encoder.vectorizers["word"].vocabulary_ == alone.vocabulary_
    assert dm.vocab_size == len(dm.encoder) == sum(len(v.vocabulary_) for v in dm.encoder.vectorizers.values())
    rows, _ = next(iter(dm.dataloader("val")))
    assert rows.shape == (min(dm.batch_size, len(dm.corpus.splits["val"])), dm.vocab_size)
    assert rows.dtype == torch.float32


def test_features_round_trip_as_plain_data():
    texts = ["graph neural networks", "gans in pytorch", "pytorch lightning tuner"]
    features = TfidfFeatures.fit(texts, TfidfSettings(word_ngrams=(1, 1), char_ngrams=(3, 4)))
    state = features.to_dict()
    torch.save(state, buffer := __import__("io").BytesIO())
    buffer.seek(0)
    loaded = TfidfFeatures.from_dict(torch.load(buffer, weights_only=True))
    assert (loaded.transform(["torch gans"]) != features.transform(["torch gans"])).nnz == 0


def test_fit_trains_checkpoints_and_the_checkpoint_predicts_as_the_module(fitted, data_dir, capsys):
    built, best = fitted
    dm, module = built.datamodule, built.model.eval()
    assert isinstance(module.net, NgramNet) and built.trainer.global_step > 0
    assert built.config.fit.threshold.split == "val"
    tagger = Tagger.load(best)
    texts = [dm.corpus.texts[i] for i in dm.corpus.splits["test"][:8]]  # already clean
    with torch.no_grad():
        expected = module(dm.encoder.collate(dm.encoder.encode_all(texts))).sigmoid().numpy()
    assert tagger.predict_proba(texts) == pytest.approx(expected, abs=1e-6)
    assert tagger.threshold == pytest.approx(module.threshold_value())
    evaluate.main(["--json", "--model", str(best), "--projects", str(data_dir / "projects.json")])
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_class"]) == set(tagger.classes)


def test_test_subcommand_reads_the_checkpoint(fitted, data_dir, tmp_path):
    _, best = fitted
    built = cli_main(["test", *ngram_args(data_dir, tmp_path), "--ckpt_path", str(best)])
    assert set(built.model.test_report["per_class"]) == set(built.datamodule.classes)


def test_a_network_on_other_features_than_the_data_gives_is_refused(data_dir, tmp_path):
    with pytest.raises(TaggerError, match="reads tfidf but --data.features is tokens; give --data.features tfidf"):
        cli_main(ngram_args(data_dir, tmp_path, "--data.features", "tokens"), run=False)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("char_ngrams", "[0, 0]", "--data.tfidf.char_ngrams [0, 0] is not an n-gram range; give [smallest, largest]"),
        ("word_ngrams", "[3, 1]", "--data.tfidf.word_ngrams [3, 1] is not an n-gram range; give [smallest, largest]"),
        ("min_df", "0", "--data.tfidf.min_df 0: give at least 1"),
        ("max_df", "2", "--data.tfidf.max_df 2.0: give a share of the training texts"),
    ],
)
def test_tfidf_settings_are_refused_with_the_config(option, value, message, tmp_path):
    """Before any data is read (the folder does not exist): an n-gram of 0 would train on one empty-string
    feature, the others end in scikit-learn's traceback at fit time."""
    with pytest.raises(TaggerError, match=f"^{re.escape(message)}"):
        cli_main(ngram_args(tmp_path / "absent", tmp_path, f"--data.tfidf.{option}", value), run=False)


def test_settings_that_leave_no_terms_are_one_error(data_dir):
    dm = TaggerDataModule(str(data_dir), min_tag_freq=10, features="tfidf", tfidf=TfidfSettings(min_df=100000))
    texts = len(dm.corpus.splits["train"])
    message = (
        f"the TF-IDF settings leave no word n-grams (min_df 100000 is more than the {texts} training texts); "
        "lower --data.tfidf.min_df or raise --data.tfidf.max_df"
    )
    with pytest.raises(TaggerError, match=f"^{re.escape(message)}$"):
        dm.vocab_size  # noqa: B018 (fits the encoder)
    with pytest.raises(TaggerError, match=r"no word n-grams \(none is in 2 to 100% of the 3 training texts\)"):
        TfidfFeatures.fit(["ab", "cd", "ef gh"], TfidfSettings(min_df=2))


def test_loss_weightings():
    rate = np.array([0.1, 0.5])
    balanced = term_weights("balanced", 2, None, rate.tolist()).numpy()
    # scikit-learn's class_weight="balanced" per tag: n / (2 * count of the class)
    assert balanced == pytest.approx(np.stack([1 / (2 * (1 - rate)), 1 / (2 * rate)]), rel=1e-6)
    assert term_weights("pos_weight", 2, None, rate.tolist()).numpy() == pytest.approx(np.array([[1, 1], [9, 1]]))
    assert term_weights("per_tag", 2, [0.25, 0.5], rate.tolist()).numpy() == pytest.approx(
        np.array([[0.25, 0.5], [0.25, 0.5]])
    )
