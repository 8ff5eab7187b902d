"""The fine-tuned encoder family on a tiny random BERT: the network, its features, fit → checkpoint → predict, the
shipped config, a saved model loaded with neither the hub nor the model folder, and a tiny --search-space finetune
study."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import config_args, tune_options
from mlflow.pyfunc.model import PythonModelContext
from optuna.trial import TrialState

import tagger.pretrained as pretrained
from tagger.data.pretrained_tokens import PretrainedSettings, PretrainedTokens
from tagger.errors import TaggerError
from tagger.fit_cli import cli_main
from tagger.loading import Tagger, save_lean
from tagger.models.encoder import EncoderNet
from tagger.pyfunc import TaggerPyfunc
from tagger.registry import ARTIFACT

SHORT = "Graph neural networks"
LONG = [
    "Object detection and image segmentation with convolutional networks, " * 6,
    "Transformers for natural language processing and question answering in PyTorch and TensorFlow " * 5,
]


def tokens(folder: Path, max_length: int = 64) -> PretrainedTokens:
    return PretrainedTokens.load(PretrainedSettings(str(folder), max_length))


def batch(features: PretrainedTokens, texts: list[str]):
    return features.collate(features.encode_all(texts, texts))


@pytest.mark.parametrize("train_layers", ["all", 1, 0])
def test_forward_backward_reaches_exactly_the_trainable_weights(tiny_bert_dir, train_layers):
    features = tokens(tiny_bert_dir)
    net = EncoderNet(len(features), 3, model=str(tiny_bert_dir), dropout_p=0.1, train_layers=train_layers)
    inputs = batch(features, [SHORT, *LONG])
    logits = net(inputs)
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    trained = {name for name, p in net.named_parameters() if p.grad is not None}
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert trained == {name for name, p in net.named_parameters() if p.requires_grad}
    encoder = {name for name in trained if name.startswith("encoder.")}
    if train_layers == "all":
        assert "encoder.embeddings.word_embeddings.weight" in encoder
        assert len(trained) == len(list(net.parameters()))  # every weight is used: no pooler left idle
    elif train_layers == 1:
        assert encoder and all(name.startswith("encoder.encoder.layer.1.") for name in encoder)
    else:
        assert trained == {"head.weight", "head.bias"}


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_a_text_s_output_does_not_depend_on_its_batch(tiny_bert_dir, pooling):
    features = tokens(tiny_bert_dir)
    net = EncoderNet(len(features), 4, model=str(tiny_bert_dir), pooling=pooling).eval()
    with torch.no_grad():
        alone = net(batch(features, [SHORT]))[0]
        padded = batch(features, [*LONG, SHORT])
        assert padded["attention_mask"][-1].sum() < padded["attention_mask"].shape[1]  # SHORT is padded here
        among_long = net(padded)[-1]
    torch.testing.assert_close(among_long, alone, atol=1e-5, rtol=1e-5)


def test_texts_are_cut_at_max_length_and_at_most_at_what_the_encoder_reads(tiny_bert_dir):
    assert max(map(len, tokens(tiny_bert_dir, 8).encode_all(LONG, LONG))) == 8
    assert max(map(len, tokens(tiny_bert_dir, 10_000).encode_all(LONG, LONG))) == 64  # the tiny BERT's positions
    with pytest.raises(TaggerError, match="--data.pretrained.max_length 1: give at least 2"):
        PretrainedSettings("x", 1)


def test_bad_network_arguments_are_refused_in_one_line(tiny_bert_dir):
    with pytest.raises(TaggerError, match="--model.net.train_layers 3: the encoder has 2 layers; give 0 to 2, or all"):
        EncoderNet(10, 2, model=str(tiny_bert_dir), train_layers=3)


def finetune_args(data_dir: Path, root: Path, encoder: Path, *extra: str) -> list[str]:
    """configs/finetune.yaml on the small data and the tiny BERT: a seconds-long fit."""
    return config_args(
        "finetune.yaml", data_dir, root,
        "--data.pretrained.encoder", str(encoder),
        "--data.pretrained.max_length", "32",
        "--data.batch_size", "16",
        "--trainer.max_epochs", "2",
        "--trainer.limit_train_batches", "3",
        "--trainer.limit_val_batches", "2",
        *extra,
    )  # fmt: skip


def test_the_encoder_is_named_once_for_the_tokenizer_and_the_network(data_dir, tiny_bert_dir, tmp_path):
    args = finetune_args(data_dir, tmp_path, tiny_bert_dir, "--model.net.model", "other/encoder")
    with pytest.raises(TaggerError, match="the encoder is named twice.*name it once, as --data.pretrained.encoder"):
        cli_main(["fit", *args])


@pytest.fixture(scope="module")
def fitted(data_dir, tiny_bert_dir, tmp_path_factory):
    """configs/finetune.yaml fitted on a copy of the tiny BERT, which the offline test deletes afterwards."""
    root = tmp_path_factory.mktemp("finetune")
    encoder = shutil.copytree(tiny_bert_dir, root / "encoder")
    built = cli_main(["fit", *finetune_args(data_dir, root, encoder)])
    return built, Path(built.trainer.checkpoint_callback.best_model_path), encoder


def test_the_shipped_recipe_fits_with_its_encoder_named_once(fitted):
    built, best, encoder = fitted
    module, dm = built.model, built.datamodule
    assert isinstance(module.net, EncoderNet) and module.hparams.solver == "adamw"
    assert module.hparams.net["init_args"]["model"] == str(encoder)  # linked from --data.pretrained.encoder
    assert built.trainer.global_step == 6 and built.trainer.gradient_clip_val == 1.0
    [optimizer] = built.trainer.optimizers
    assert {g["lr"] > module.hparams.encoder_lr for g in optimizer.param_groups} == {True, False}
    assert best.name.startswith("best-") and "val_ap" in best.name
    assert dm.vocab_size == len(dm.encoder.tokenizer)


def test_predictions_from_the_checkpoint_are_the_module_s(fitted):
    built, best, _ = fitted
    dm, module = built.datamodule, built.model.eval()
    rows = dm.corpus.splits["test"][:6]
    raw = [dm.corpus.raw[i] for i in rows]
    with torch.no_grad():
        expected = module(dm.encoder.collate(dm.encoder.encode_all(raw, raw))).sigmoid().numpy()
    assert Tagger.load(best).predict_proba(raw) == pytest.approx(expected, abs=1e-5)


def test_a_saved_model_predicts_with_neither_the_hub_nor_its_model_folder(fitted, tmp_path, monkeypatch):
    """fit's checkpoint, the lean best.ckpt and the MLflow model's pyfunc, after the encoder's folder is gone."""
    built, best, encoder = fitted
    lean = tmp_path / "best.ckpt"
    save_lean(best, lean)
    texts = [SHORT, LONG[0]]
    expected = Tagger.load(best).predict_proba(texts)
    shutil.rmtree(encoder)
    monkeypatch.delenv(pretrained.MODELS_DIR, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(pretrained.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(pretrained, "resolve", lambda name: pytest.fail(f"looked up {name}"))
    for path in (best, lean):
        assert Tagger.load(path).predict_proba(texts) == pytest.approx(expected, abs=1e-6)
    served = TaggerPyfunc()
    served.load_context(PythonModelContext(artifacts={ARTIFACT: str(lean)}, model_config={}))
    answer = served.predict(None, pd.DataFrame({"text": texts}))
    served_probs = np.array([list(p.values()) for p in answer["probabilities"]])
    np.testing.assert_allclose(served_probs, expected, atol=5e-5 + 1e-7)  # served rounded to 4 places


def test_bf16_mixed_precision_is_accepted(data_dir, tiny_bert_dir, tmp_path):
    """What a GPU runs (--trainer.precision bf16-mixed); Lightning's CPU autocast runs the same code here."""
    args = finetune_args(data_dir, tmp_path, tiny_bert_dir, "--trainer.precision", "bf16-mixed")
    built = cli_main(["fit", *args, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"])
    assert built.trainer.precision == "bf16-mixed" and built.trainer.global_step == 2
    assert torch.isfinite(torch.tensor(float(built.trainer.callback_metrics["val/loss"])))


@pytest.mark.slow
def test_a_tiny_finetune_study_runs_and_reports_every_epoch_to_the_pruner(data_dir, tiny_bert_dir, tmp_path):
    from tagger.tune.runner import run_study

    options = tune_options(tmp_path, {}, search_space="finetune", n_trials=2)
    args = finetune_args(data_dir, tmp_path, tiny_bert_dir, "--trainer.max_epochs", "1")
    study = run_study(options, args)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert all(list(t.intermediate_values) == [0] for t in study.trials)  # val/ap after the one epoch
    assert (options.out / "best.ckpt").exists()
