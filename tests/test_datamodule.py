import json
import re

import numpy as np
import pytest
import torch

from tagger.data.datamodule import Corpus, TaggerDataModule, check_folds
from tagger.data.tokenizer import pad_batch
from tagger.errors import TaggerError


@pytest.fixture(scope="module")
def dm(data_dir):
    return TaggerDataModule(str(data_dir), min_tag_freq=10, batch_size=8)


def test_labels_follow_the_filters(dm):
    y = dm.corpus.y
    assert y.shape == (len(dm.corpus.texts), dm.num_classes)
    assert (y.sum(0) >= 10).all() and (y.sum(1) >= 1).all()
    assert not {"python", "machine-learning", "deep-learning"} & set(dm.classes)
    assert dm.classes == sorted(dm.classes)


def test_tokenizer_sees_only_the_train_split(dm):
    train_chars = {c for i in dm.corpus.splits["train"] for c in dm.corpus.texts[i]}
    assert set(dm.tokenizer.vocab[2:]) == train_chars


def test_class_weights_are_inverse_train_counts(dm):
    counts = dm.corpus.y[dm.corpus.splits["train"]].sum(0)
    assert np.allclose(dm.class_weights, 1 / counts)


def test_batches_are_padded_to_their_longest_text(dm):
    """No network-specific minimum here: a CNN pads to its largest filter itself."""
    tokens, targets = next(iter(dm.dataloader("val")))
    assert tokens.dtype == torch.long and tokens.shape[1] == (tokens != 0).sum(1).max()
    assert targets.shape == (8, dm.num_classes)
    assert pad_batch([[5], [1, 2, 3]]).tolist() == [[5, 0, 0], [1, 2, 3]]
    assert pad_batch([[]]).tolist() == [[0]]  # an empty text still has one position


def test_checkpoint_state_round_trip(dm, data_dir):
    other = TaggerDataModule(str(data_dir), min_tag_freq=10, level="word")
    other.load_state_dict(dm.state_dict())
    assert other.tokenizer.vocab == dm.tokenizer.vocab and other.tokenizer.level == "char"
    mismatched = TaggerDataModule(str(data_dir), min_tag_freq=20)
    with pytest.raises(TaggerError, match="other tags"):
        mismatched.load_state_dict(dm.state_dict())


def test_no_label_left_is_a_clear_error(data_dir):
    with pytest.raises(TaggerError, match="no tag is left.*min_tag_freq=100000"):
        TaggerDataModule(str(data_dir), min_tag_freq=100000).setup()


def test_empty_split_is_a_clear_error(tmp_path, data_dir):
    projects = json.loads((data_dir / "projects.json").read_text())
    few = [p | {"tags": ["pytorch"]} for p in projects[:2]]
    (tmp_path / "projects.json").write_text(json.dumps(few))
    (tmp_path / "tags.json").write_text((data_dir / "tags.json").read_text())
    with pytest.raises(TaggerError, match="a split is empty"):
        TaggerDataModule(str(tmp_path), min_tag_freq=1).setup()


def test_missing_data_offline_names_the_folder(tmp_path, monkeypatch):
    import urllib.error

    def offline(url, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(TaggerError, match=str(tmp_path / "none")):
        TaggerDataModule(str(tmp_path / "none")).setup()


def test_cross_validation_folds_never_touch_the_test_split(data_dir):
    from tagger.data.datamodule import TaggerDataModule

    plain = TaggerDataModule(str(data_dir), min_tag_freq=10).corpus.splits
    folds = [TaggerDataModule(str(data_dir), min_tag_freq=10, cv_folds=4, cv_fold=k).corpus.splits for k in range(4)]
    pool = sorted([*plain["train"], *plain["val"]])
    for splits in folds:
        assert np.array_equal(splits["test"], plain["test"])  # the same held-out projects
        assert sorted([*splits["train"], *splits["val"]]) == pool
    assert sorted(np.concatenate([s["val"] for s in folds]).tolist()) == pool  # each project validates once


def test_more_folds_than_the_rarest_tag_has_projects_is_refused(dm, data_dir):
    """A fold without a tag scores it as missed; the message names the largest K whose folds all hold every tag."""
    counts = dm.corpus.y[np.concatenate([dm.corpus.splits["train"], dm.corpus.splits["val"]])].sum(0)
    most, rarest = int(counts.min()), dm.classes[int(counts.argmin())]
    message = (
        f"--data.cv_folds {most + 1}: the rarest tag, '{rarest}', has {most} projects in train+val, "
        f"so at most {most} folds can each hold every tag; use a K of {most} or less"
    )
    with pytest.raises(TaggerError, match=f"^{re.escape(message)}$"):
        TaggerDataModule(str(data_dir), min_tag_freq=10, cv_folds=most + 1).setup()
    for fold in range(most):
        corpus = TaggerDataModule(str(data_dir), min_tag_freq=10, cv_folds=most, cv_fold=fold).corpus
        assert corpus.y[corpus.splits["val"]].any(0).all()


def test_check_folds_counts_train_and_val_not_test():
    y = np.array([[1, 0], [1, 1], [1, 0], [1, 1], [1, 1], [1, 1]], dtype=np.float32)  # (N, C): tag b 2x in train+val
    splits = {"train": np.array([0, 1]), "val": np.array([2, 3]), "test": np.array([4, 5])}
    corpus = Corpus(["t"] * 6, y, ["a", "b"], splits, ["t"] * 6)
    check_folds(corpus, 2)
    with pytest.raises(
        TaggerError, match=r"^--cv 3: the rarest tag, 'b', has 2 projects in train\+val, .* of 2 or less$"
    ):
        check_folds(corpus, 3, option="--cv")


def test_repeated_projects_never_reach_the_split(data_dir, tmp_path, capsys):
    """fit, tune and the baseline read projects through the DataModule: a project read twice could land in train
    and in test."""
    projects = json.loads((data_dir / "projects.json").read_text())
    renamed = [p | {"id": f"copy-{p['id']}"} for p in projects[40:50]]
    (tmp_path / "projects.json").write_text(json.dumps(projects + projects[:40] + renamed))
    (tmp_path / "tags.json").write_text((data_dir / "tags.json").read_text())
    plain = TaggerDataModule(str(data_dir), min_tag_freq=10).corpus
    capsys.readouterr()
    repeated = TaggerDataModule(str(tmp_path), min_tag_freq=10).corpus
    assert repeated.texts == plain.texts
    assert all(np.array_equal(repeated.splits[name], rows) for name, rows in plain.splits.items())
    assert capsys.readouterr().err.splitlines() == [
        f"tagger: dropped 40 exact duplicate projects from {tmp_path / 'projects.json'}",
        f"tagger: dropped 10 projects from {tmp_path / 'projects.json'} that repeat another's title and description "
        "under another id",
    ]
