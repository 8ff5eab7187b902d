"""The hybrid family (configs/hybrid.yaml): TF-IDF n-grams beside alpha x a frozen pretrained embedding, solved by
L-BFGS, on a tiny random BERT; its embeddings cached on disk, its checkpoint predicting offline."""

import json
import shutil
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from conftest import REPO, config_args, served_by_mlflow
from huggingface_hub import constants
from scipy.sparse import vstack
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits
from tiny_bert import tiny_bert

from tagger import evaluate, predict
from tagger.callbacks import predict_split
from tagger.data import embeddings
from tagger.data.datamodule import TaggerDataModule
from tagger.data.embeddings import EmbeddingCache, EmbeddingSettings, FrozenEmbedder
from tagger.errors import TaggerError
from tagger.fit_cli import build, cli_main
from tagger.loading import Tagger, save_lean
from tagger.tune.cost import architecture, measure

MINILM = REPO.parent / "shared" / "models" / "all-MiniLM-L6-v2"
TEXTS = ["Graph neural networks for node classification in PyTorch", "A GAN that generates faces"]


def hybrid_args(data_dir: Path, root: Path, encoder: Path, *extra: str) -> list[str]:
    return config_args("hybrid.yaml", data_dir, root, "--data.embedding.encoder", str(encoder), *extra)


@pytest.fixture(scope="module")
def encoder_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    """A copy of the tiny BERT that a test deletes once the model is fitted."""
    return shutil.copytree(tiny_bert_dir, tmp_path_factory.mktemp("encoder") / "bert")


@pytest.fixture(scope="module")
def fitted(data_dir, encoder_dir, tmp_path_factory):
    """configs/hybrid.yaml on the small data with the tiny BERT: (cli, best checkpoint)."""
    cli = cli_main(["fit", *hybrid_args(data_dir, tmp_path_factory.mktemp("hybrid"), encoder_dir)])
    return cli, Path(cli.trainer.checkpoint_callback.best_model_path)


def test_the_rows_are_tfidf_of_the_cleaned_text_beside_alpha_times_the_raw_texts_embedding(data_dir, tiny_bert_dir):
    dm = TaggerDataModule(
        str(data_dir), min_tag_freq=10, features="hybrid", embedding=EmbeddingSettings(str(tiny_bert_dir), alpha=2.5)
    )
    corpus, rows = dm.corpus, dm.corpus.splits["val"][:5]
    assert all(dm.cleaning(corpus.raw[i]) == corpus.texts[i] for i in rows)  # raw beside cleaned, row for row
    assert corpus.raw[rows[0]] != corpus.texts[rows[0]]
    batch, _ = next(iter(dm.dataloader("val")))
    dense = batch.to_dense()[:5].numpy()  # (5, F + D)
    width = len(dm.encoder.tfidf)
    assert dm.vocab_size == batch.shape[1] == width + 32
    tfidf = dm.encoder.tfidf.transform([corpus.texts[i] for i in rows]).toarray()
    embedded = dm.encoder.embedder.compute([corpus.raw[i] for i in rows])
    assert dense[:, :width] == pytest.approx(tfidf, abs=1e-6)
    assert dense[:, width:] == pytest.approx(2.5 * embedded, abs=1e-5)
    assert np.linalg.norm(embedded, axis=1) == pytest.approx(1.0, abs=1e-5)  # normalised, as for MiniLM


def test_lbfgs_solves_it_to_scikit_learns_logistic_regression(fitted):
    cli, _ = fitted
    module, dm = cli.model, cli.datamodule
    corpus = dm.corpus

    def features(split: str):
        rows = corpus.splits[split]
        return vstack(dm.encoder.encode_all([corpus.texts[i] for i in rows], [corpus.raw[i] for i in rows]))

    regression = LogisticRegression(C=module.hparams.C, class_weight="balanced", tol=1e-6, max_iter=1000)
    with threadpool_limits(limits=1, user_api="blas"):  # as tagger.baseline fits (threads only slow it down)
        theirs = OneVsRestClassifier(regression).fit(features("train"), corpus.y[corpus.splits["train"]])
    for split in ("val", "test"):
        ours, y = predict_split(module, dm.dataloader(split))
        assert np.abs(ours - theirs.predict_proba(features(split))).max() < 0.005, split
    ours, _ = predict_split(module, dm.dataloader("val"))
    theirs_val, threshold = theirs.predict_proba(features("val")), module.threshold.item()
    differ = (ours >= threshold) != (theirs_val >= threshold)
    assert differ.sum() <= 0.01 * differ.size  # the same tags, but where ours is within 0.005 of the threshold
    assert np.abs(ours[differ] - threshold).max(initial=0) < 0.005


def test_its_serving_cost_embeds_each_raw_text_as_a_loaded_model_does(fitted, monkeypatch):
    """A study's latency objective (tagger.tune.cost) times what serving runs: raw texts in, each embedded (a
    loaded model has no cache), though this fit's embeddings are all cached."""
    cli, _ = fitted
    embedded = []
    compute = FrozenEmbedder.compute
    monkeypatch.setattr(FrozenEmbedder, "compute", lambda self, texts: embedded.extend(texts) or compute(self, texts))
    measure(cli)
    corpus = cli.datamodule.corpus
    assert embedded and set(embedded) <= {corpus.raw[i] for i in corpus.splits["val"]}


def test_its_architecture_names_the_tfidf_and_embedding_settings_but_not_alpha(data_dir, tiny_bert_dir, tmp_path):
    def arch(*extra: str) -> str:
        return architecture(build(hybrid_args(data_dir, tmp_path, tiny_bert_dir, *extra)))

    same = arch()
    assert arch("--data.embedding.alpha", "2.0") == same  # applied after embedding: it costs nothing
    assert arch("--data.tfidf.min_df", "3") != same
    assert arch("--data.embedding.max_length", "16") != same


def test_embeddings_are_cached_once_per_text_and_encoder(tiny_bert_dir, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path / "cache")
    first = FrozenEmbedder.load(EmbeddingSettings(str(tiny_bert_dir)), cache)
    vectors = first.embed(TEXTS)
    assert len(list((tmp_path / "cache").rglob("*.f32"))) == 2

    def no_compute(texts):
        raise AssertionError(f"recomputed {texts}")

    monkeypatch.setattr(first, "compute", no_compute)
    assert np.array_equal(first.embed(TEXTS), vectors)  # a rerun reads them back

    other_weights = tiny_bert(tmp_path / "other", seed=1)
    keys = {
        first.key,
        FrozenEmbedder.load(EmbeddingSettings(str(other_weights)), cache).key,
        FrozenEmbedder.load(EmbeddingSettings(str(tiny_bert_dir), pooling="cls"), cache).key,
        FrozenEmbedder.load(EmbeddingSettings(str(tiny_bert_dir), max_length=8), cache).key,
    }
    assert len(keys) == 4
    assert FrozenEmbedder.load(EmbeddingSettings(str(tiny_bert_dir), alpha=3.0), cache).key == first.key  # after

    with pytest.raises(AssertionError, match="recomputed .'another text'."):  # another text is another entry
        first.embed([TEXTS[0], "another text"])


def test_a_corrupt_or_foreign_cache_entry_is_computed_again(tiny_bert_dir, tmp_path):
    cache = EmbeddingCache(tmp_path)
    embedder = FrozenEmbedder.load(EmbeddingSettings(str(tiny_bert_dir)), cache)
    expected = embedder.embed(TEXTS)
    first, second = (cache._path(embedder.key, t) for t in TEXTS)
    first.write_bytes(first.read_bytes()[:40])  # truncated
    second.write_bytes(np.full(32, np.nan, dtype=np.float32).tobytes())  # the right size, not a vector
    assert embedder.embed(TEXTS) == pytest.approx(expected, abs=1e-6)
    for path, vector in zip((first, second), expected, strict=True):  # and written again
        assert np.frombuffer(path.read_bytes(), dtype=np.float32) == pytest.approx(vector)
    assert not list(tmp_path.rglob("*.part"))


def test_the_cache_lives_in_the_users_cache_folder_not_the_data(monkeypatch, tmp_path):
    monkeypatch.setenv(embeddings.CACHE_DIR, str(tmp_path / "mine"))
    assert embeddings.cache_root() == tmp_path / "mine"
    monkeypatch.delenv(embeddings.CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embeddings.cache_root() == tmp_path / "xdg" / "tagger"


def test_an_unwritable_cache_warns_once_and_embeds(tiny_bert_dir, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    embedder = FrozenEmbedder.load(EmbeddingSettings(str(tiny_bert_dir)), EmbeddingCache(blocked))
    with pytest.warns(UserWarning, match="embeddings are not cached: cannot write in"):
        vectors = embedder.embed(TEXTS)
    assert vectors.shape == (2, 32)


def test_its_checkpoint_predicts_with_neither_the_encoders_folder_nor_the_hub(
    fitted, encoder_dir, data_dir, tmp_path, monkeypatch, capsys
):
    cli, best = fitted
    dm, module = cli.datamodule, cli.model.eval()
    with torch.no_grad():
        cleaned = [dm.cleaning(t) for t in TEXTS]
        expected = module(dm.encoder.collate(dm.encoder.encode_all(cleaned, TEXTS))).sigmoid().numpy()
    lean = tmp_path / "model.ckpt"
    save_lean(best, lean)
    shutil.rmtree(encoder_dir)
    embeddings._loaded.cache_clear()
    monkeypatch.delenv("TAGGER_MODELS_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    assert Tagger.load(lean).predict_proba(TEXTS) == pytest.approx(expected, abs=1e-6)
    predict.main(["--model", str(lean), *TEXTS])
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert np.array([list(p["probabilities"].values()) for p in printed]) == pytest.approx(expected, abs=1e-4)
    evaluate.main(["--json", "--model", str(lean), "--projects", str(data_dir / "projects.json")])
    report = json.loads(capsys.readouterr().out)
    assert report["num_samples"] == len(dm.corpus.texts) and report["threshold"] == pytest.approx(
        module.threshold.item()
    )

    served, model_uri = served_by_mlflow(lean, TEXTS, tmp_path)
    assert served == pytest.approx(expected, abs=1e-4)
    pins = mlflow.pyfunc.get_model_dependencies(model_uri)
    assert {line.split("==")[0] for line in Path(pins).read_text().split()} >= {"transformers", "tokenizers"}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("alpha", "0", "--data.embedding.alpha 0.0: give a positive scale"),
        ("max_length", "0", "--data.embedding.max_length 0: give at least 1"),
        ("encoder", " ", "--data.embedding.encoder is empty"),
    ],
)
def test_bad_embedding_settings_are_refused_before_any_encoder_loads(data_dir, tmp_path, option, value, message):
    with pytest.raises(TaggerError, match=message):
        cli_main(config_args("hybrid.yaml", data_dir, tmp_path, f"--data.embedding.{option}", value), run=False)


@pytest.mark.skipif(not MINILM.is_dir(), reason="no development copy of all-MiniLM-L6-v2 beside the checkout")
def test_the_real_minilm_embeds_as_sentence_transformers_does(tmp_path):
    started = time.monotonic()
    embedder = FrozenEmbedder.load(EmbeddingSettings(str(MINILM)), EmbeddingCache(tmp_path))
    texts = [
        "Graph neural networks for node classification",
        "GNNs classify the nodes of a graph",
        "A GAN that generates faces",
    ]
    vectors = embedder.embed(texts)  # (3, 384)
    assert vectors.shape == (3, 384) and np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > 0.6 > unrelated
    assert time.monotonic() - started < 30
