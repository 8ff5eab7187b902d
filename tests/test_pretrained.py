"""tagger.pretrained: finding, pooling, carrying and rebuilding Hugging Face encoders, on a tiny random BERT."""

import shutil
import time

import pytest
import torch
from huggingface_hub import constants

from tagger import pretrained
from tagger.errors import TaggerError

TEXTS = ["graph networks", "A GAN that generates faces with TensorFlow and PyTorch, for image generation"]


def embed(encoder: pretrained.Encoder, texts: list[str], pooling: pretrained.Pooling = "mean") -> torch.Tensor:
    batch = encoder.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder.model(**batch).last_hidden_state
    return pretrained.pool(hidden, batch["attention_mask"], pooling, normalize=True)


def test_pooling_ignores_padding():
    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    garbage = hidden.clone()
    garbage[0, 2:] = 1e6  # what padding positions hold must not matter
    pooled = pretrained.pool(garbage, mask, "mean", normalize=False)
    assert torch.allclose(pooled[0], hidden[0, :2].mean(0))
    assert torch.allclose(pooled[1], hidden[1].mean(0))
    assert torch.allclose(pretrained.pool(garbage, mask, "cls", normalize=False), garbage[:, 0])
    assert torch.allclose(pretrained.pool(hidden, mask, "mean", normalize=True).norm(dim=-1), torch.ones(2))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_a_texts_vector_does_not_depend_on_its_batch(tiny_bert_dir, pooling):
    encoder = pretrained.load(str(tiny_bert_dir))
    alone = embed(encoder, TEXTS[:1], pooling)
    padded = embed(encoder, TEXTS, pooling)[:1]  # the short text padded to the long one
    assert torch.allclose(alone, padded, atol=1e-5)


def test_models_dir_resolves_a_hub_id(tiny_bert_dir, monkeypatch):
    monkeypatch.setenv(pretrained.MODELS_DIR, str(tiny_bert_dir.parent))
    assert pretrained.resolve(f"some-org/{tiny_bert_dir.name}") == pretrained.Source(str(tiny_bert_dir), True)


@pytest.mark.parametrize("offline", [True, False])
def test_a_missing_model_is_one_line_and_fast(offline, monkeypatch):
    """Offline (HF_HUB_OFFLINE=1), or online where no hub answers (this sandbox) or it answers "no such model":
    one line naming the model, without the hub client's retries (five, over ~25 s)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.delenv(pretrained.MODELS_DIR, raising=False)
    started = time.monotonic()
    with pytest.raises(TaggerError, match="encoder tagger-tests/no-such-model") as caught:
        pretrained.load("tagger-tests/no-such-model")
    assert time.monotonic() - started < 8
    assert "\n" not in str(caught.value)
    if offline:
        assert "HF_HUB_OFFLINE=1; give a local model folder" in str(caught.value)
        assert "hf download tagger-tests/no-such-model" in str(caught.value)


def test_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(
        TaggerError, match=r"encoder .*/nothing: no such folder; give a Hugging Face model folder or a hub id$"
    ):
        pretrained.load(str(tmp_path / "nothing"))


def test_carried_files_rebuild_the_same_encoder_without_its_folder(tiny_bert_dir, tmp_path):
    folder = shutil.copytree(tiny_bert_dir, tmp_path / "copy")
    encoder = pretrained.load(str(folder))
    expected = embed(encoder, TEXTS)
    state = pretrained.carried(encoder)
    shutil.rmtree(folder)
    rebuilt = pretrained.rebuild(state)
    assert torch.equal(embed(rebuilt, TEXTS), expected)
    assert pretrained.fingerprint(pretrained.carried(rebuilt)) == pretrained.fingerprint(state)
    shell = pretrained.rebuild({k: v for k, v in state.items() if k != "weights"})  # weights left to the caller
    assert shell.tokenizer(TEXTS)["input_ids"] == encoder.tokenizer(TEXTS)["input_ids"]
    shell.model.load_state_dict(state["weights"])
    assert torch.equal(embed(shell, TEXTS), expected)


def test_fingerprint_follows_the_weights_not_the_tokenizers_last_call(tiny_bert_dir):
    encoder = pretrained.load(str(tiny_bert_dir))
    before = pretrained.fingerprint(pretrained.carried(encoder))
    encoder.tokenizer(TEXTS, padding=True, truncation=True, max_length=4)  # leaves its settings in the backend
    assert pretrained.fingerprint(pretrained.carried(encoder)) == before
    assert pretrained.fingerprint(pretrained.carried(pretrained.load(str(tiny_bert_dir)))) == before
    with torch.no_grad():
        encoder.model.encoder.layer[0].output.dense.bias[0] += 1e-3
    assert pretrained.fingerprint(pretrained.carried(encoder)) != before
