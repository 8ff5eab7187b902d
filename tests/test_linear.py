"""The converged linear family (configs/linear.yaml): the baseline's logistic regression, solved to its optimum
by L-BFGS inside the module, through the same fit, checkpoint, predict and MLflow model as every network."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import config_args, served_by_mlflow

from tagger import baseline_model as baseline
from tagger import predict
from tagger.callbacks import predict_split
from tagger.errors import TaggerError
from tagger.fit_cli import cli_main
from tagger.loading import Tagger, save_lean
from tagger.metrics import classification_report
from tagger.models.ngram import NgramNet


def linear_args(data_dir: Path, root: Path, *extra: str) -> list[str]:
    return config_args("linear.yaml", data_dir, root, *extra)


@pytest.fixture(scope="module")
def fitted(data_dir, tmp_path_factory):
    """configs/linear.yaml fitted on the small data with up to 50 epochs allowed: (cli, best checkpoint)."""
    cli = cli_main(["fit", *linear_args(data_dir, tmp_path_factory.mktemp("linear"), "--trainer.max_epochs", "50")])
    return cli, Path(cli.trainer.checkpoint_callback.best_model_path)


def macro_f1(y: np.ndarray, probs: np.ndarray, threshold: float, classes: list[str]) -> float:
    return classification_report(y, (probs >= threshold).astype(np.int64), classes)["overall"]["f1"]


def test_it_reproduces_the_baseline_at_the_baselines_settings(fitted):
    cli, _ = fitted
    module, dm = cli.model, cli.datamodule
    trained = baseline.train(dm, C=baseline.DEFAULT_C, threshold_split="val")
    corpus = dm.corpus
    scores = {}
    for split in ("val", "test"):
        ours, y = predict_split(module, dm.dataloader(split))
        theirs = trained.pipeline.predict_proba([corpus.texts[i] for i in corpus.splits[split]])
        assert np.abs(ours - theirs).max() < 0.02, split
        scores[split] = (macro_f1(y, ours, module.threshold.item(), dm.classes), theirs, y)
    val_ours, val_theirs, val_y = scores["val"]
    assert abs(val_ours - macro_f1(val_y, val_theirs, trained.model.threshold, dm.classes)) < 0.005


def test_it_stops_on_convergence_not_on_epochs(fitted):
    cli, _ = fitted
    iterations = cli.trainer.callback_metrics["train/iterations"].item()
    assert cli.trainer.current_epoch == 1 and cli.trainer.max_epochs == 50  # one solve, then it stopped
    assert 0 < iterations < cli.model.hparams.max_iter


def test_it_says_so_when_it_hits_its_iteration_cap(data_dir, tmp_path):
    with pytest.warns(UserWarning, match=r"L-BFGS stopped at its iteration cap \(3\) before converging"):
        cli = cli_main(["fit", *linear_args(data_dir, tmp_path, "--model.max_iter", "3")])
    assert cli.trainer.callback_metrics["train/iterations"].item() <= 3 and cli.trainer.current_epoch == 1


def test_its_checkpoint_predict_and_mlflow_model_give_the_modules_probabilities(fitted, tmp_path, capsys):
    cli, best = fitted
    dm, module = cli.datamodule, cli.model.eval()
    texts = ["Graph neural networks for node classification in PyTorch", "A GAN that generates faces"]
    with torch.no_grad():
        expected = module(dm.encoder.collate(dm.encoder.encode_all([dm.cleaning(t) for t in texts]))).sigmoid()
    lean = tmp_path / "model.ckpt"
    save_lean(best, lean)
    assert Tagger.load(lean).predict_proba(texts) == pytest.approx(expected.numpy(), abs=1e-6)
    assert "optimizer_states" in torch.load(best, weights_only=True)
    assert best.stat().st_size < 3 * lean.stat().st_size  # the solver's curvature history is not kept

    predict.main(["--model", str(lean), *texts])
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert np.array([list(p["probabilities"].values()) for p in printed]) == pytest.approx(expected.numpy(), abs=1e-4)

    served_probs, _ = served_by_mlflow(lean, texts, tmp_path)
    assert served_probs == pytest.approx(expected.numpy(), abs=1e-4)


def test_full_batch_and_its_penalty_are_required(data_dir, tmp_path):
    with pytest.raises(TaggerError, match="loader gives .* batches; set --data.batch_size null"):
        cli_main(["fit", *linear_args(data_dir, tmp_path, "--data.batch_size", "64")])
    with pytest.raises(TaggerError, match="takes its L2 penalty as --model.C"):
        cli_main(linear_args(data_dir, tmp_path, "--model.C", "null"), run=False)
    with pytest.raises(TaggerError, match="--model.C is the L-BFGS solver's penalty"):
        cli_main(linear_args(data_dir, tmp_path, "--model.solver", "adam"), run=False)


@pytest.mark.parametrize("hidden_dim", [0, 6])
def test_sparse_rows_give_the_dense_rows_outputs_and_gradients(hidden_dim):
    torch.manual_seed(0)
    dense = torch.rand(5, 40) * (torch.rand(5, 40) < 0.2)
    net = NgramNet(vocab_size=40, num_classes=3, hidden_dim=hidden_dim).double()
    if not hidden_dim:
        torch.nn.init.normal_(net.layers[1].weight)  # a linear net starts at zero
    grads = []
    for rows in (dense.double(), dense.double().to_sparse_csr()):
        net.zero_grad()
        out = net(rows)
        (out**2).sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
        assert out.shape == (5, 3)
        assert out.detach() == pytest.approx(net(dense.double()).detach().numpy(), abs=1e-12)
    for sparse_grad, dense_grad in zip(*grads, strict=True):
        assert torch.allclose(sparse_grad, dense_grad)
