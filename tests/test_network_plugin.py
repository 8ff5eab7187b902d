"""A network defined outside the package, here, goes through fit, test, tagger.predict and tagger.evaluate:
a new architecture needs no change to the module, the CLI, prediction or evaluation."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_args
from torch import nn

from tagger import evaluate
from tagger.fit_cli import cli_main
from tagger.loading import Tagger


class MeanBag(nn.Module):
    """Mean of the text's token embeddings → linear: the smallest network that keeps the contract."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.out = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        lengths = (tokens != 0).sum(1, keepdim=True).clamp(min=1)  # (B, 1)
        return self.out(self.embedding(tokens).sum(1) / lengths)  # padding rows are 0: (B, D) → (B, C)


CLASS_PATH = f"{MeanBag.__module__}.{MeanBag.__qualname__}"


def mean_bag_args(data_dir: Path, root: Path) -> list[str]:
    return tiny_args(data_dir, root, "--model.net", CLASS_PATH, "--model.net.dim", "4")


@pytest.fixture(scope="module")
def fitted(data_dir, tmp_path_factory):
    built = cli_main(["fit", *mean_bag_args(data_dir, tmp_path_factory.mktemp("mean_bag"))])
    return built, Path(built.trainer.checkpoint_callback.best_model_path)


def test_fit_checkpoints_the_network_as_plain_data(fitted):
    built, best = fitted
    assert isinstance(built.model.net, MeanBag) and built.model.net.embedding.embedding_dim == 4
    assert built.model.net.embedding.num_embeddings == built.datamodule.vocab_size
    assert built.trainer.global_step > 0
    hparams = torch.load(best, weights_only=True)["hyper_parameters"]
    assert hparams["net"] == {"class_path": CLASS_PATH, "init_args": {"dim": 4}}


def test_test_subcommand(fitted, data_dir, tmp_path):
    _, best = fitted
    built = cli_main(["test", *mean_bag_args(data_dir, tmp_path), "--ckpt_path", str(best)])
    assert set(built.model.test_report["per_class"]) == set(built.datamodule.classes)


def test_predict_and_evaluate_from_the_checkpoint(fitted, data_dir, capsys):
    built, best = fitted
    tagger = Tagger.load(best)
    assert isinstance(tagger.module.net, MeanBag)
    dm, module = built.datamodule, built.model.eval()
    texts = [dm.corpus.texts[i] for i in dm.corpus.splits["test"][:5]]  # already clean
    with torch.no_grad():
        expected = [module(torch.tensor([dm.tokenizer.encode(t)])).sigmoid()[0].numpy() for t in texts]
    for text, probs in zip(texts, expected, strict=True):
        assert tagger.predict_proba([text])[0] == pytest.approx(probs, abs=1e-6)
    (result,) = tagger.predict([texts[0]])
    assert result["tags"] == [c for c, p in result["probabilities"].items() if p >= tagger.threshold]
    evaluate.main(["--json", "--model", str(best), "--projects", str(data_dir / "projects.json")])
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_class"]) == set(tagger.classes) and report["threshold"] == pytest.approx(tagger.threshold)


def test_a_study_tunes_the_network_s_own_parameters(cv_study):
    """conftest's cv_study searches MeanBag's dim beside the CNN's sizes; the trial records its own config."""
    (bag,) = [t for t in cv_study.study.trials if t.params["model.net"] == CLASS_PATH and "model.net.dim" in t.params]
    assert yaml.safe_load(bag.user_attrs["config"])["model"]["net"] == {
        "class_path": CLASS_PATH,
        "init_args": {"dim": bag.params["model.net.dim"]},
    }
