"""A text's probabilities never depend on the texts batched with it: every family, loaded as predict, evaluate and
serving load it, scores a text alone as it scores it inside a batch of long texts."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TEXTS, config_args

from tagger.baseline_model import train
from tagger.data.datamodule import TaggerDataModule
from tagger.fit_cli import cli_main
from tagger.loading import load_model

FEW_BATCHES = ("--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2")
# One line per family fitted from a shipped config: its file and what keeps the fit to seconds. configs/cnn.yaml
# is conftest's `trained` (at tiny sizes) and the baseline is an .npz; both are added below.
CONFIGS: dict[str, tuple[str, ...]] = {
    "ngram": ("ngram.yaml", *FEW_BATCHES),
    "linear": ("linear.yaml",),
}


@pytest.fixture(scope="module", params=["cnn", "baseline", *CONFIGS])
def model_file(request, trained, data_dir, tmp_path_factory) -> Path:
    if request.param == "cnn":
        return trained[1]
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "baseline":
        train(TaggerDataModule(str(data_dir), min_tag_freq=10), C=3.0, threshold_split="val").model.save(root / "b.npz")
        return root / "b.npz"
    config, *extra = CONFIGS[request.param]
    cli = cli_main(["fit", *config_args(config, data_dir, root, *extra)])
    return Path(cli.trainer.checkpoint_callback.best_model_path)


def test_a_text_scores_the_same_alone_and_inside_a_batch_of_long_texts(model_file, data_dir):
    projects = json.loads((data_dir / "projects.json").read_text())
    # Short texts too: alone they are all real positions, in a long batch mostly padding.
    short = ["nlp", "gans", "bert", "yolo", "lstm", "gpt", "vae", "knn", "pca", "tsne", "dqn", "gcn"]
    texts = [*TEXTS, "", *short, *(p["title"] for p in projects[:5])]
    # Each several times the longest text above: a CNN batch pads every text to one of these.
    long_texts = [" ".join(p["title"] + " " + p["description"] for p in projects[i : i + 8]) for i in range(0, 80, 8)]
    model = load_model(model_file)
    alone = np.concatenate([model.predict_proba([text]) for text in texts])
    batched = model.predict_proba([*texts, *long_texts])[: len(texts)]
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-6)
