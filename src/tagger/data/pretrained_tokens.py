"""A pretrained encoder's own tokenizer on the raw texts: what a fine-tuned encoder (tagger.models.encoder) reads.

The lesson's cleaning and stemming are for n-grams; a pretrained tokenizer was trained on text as written, so it
reads the raw title + description. Texts are cut at ``max_length`` tokens and padded per batch to the batch's
longest (with the attention mask that keeps padding out of the encoder and the pooling). The state a checkpoint
carries is the encoder's config and the tokenizer's files (tagger.pretrained.carried_files); the weights travel in
the network's state_dict.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import BatchEncoding, PreTrainedTokenizerBase

import tagger.pretrained as pretrained
from tagger.errors import TaggerError


@dataclass(frozen=True)
class PretrainedSettings:
    """The pretrained encoder of ``--data.features encoder``.

    Args:
        encoder: a Hugging Face hub id (found in $TAGGER_MODELS_DIR, the local cache or the hub) or a model folder.
            The one place the name is given: the CLI links it to the network's ``model``.
        max_length: tokens read per text, [CLS] and [SEP] included; longer texts are cut. At most what the encoder
            reads (its tokenizer's model_max_length), so one search space serves encoders of any length.
    """

    encoder: str = "sentence-transformers/all-MiniLM-L6-v2"
    max_length: int = 128

    def __post_init__(self) -> None:
        """Refused when the config is instantiated, before any model is loaded (see TfidfSettings)."""
        if not self.encoder.strip():
            raise TaggerError("--data.pretrained.encoder is empty; name a Hugging Face model (hub id or folder)")
        if self.max_length < 2:
            raise TaggerError(f"--data.pretrained.max_length {self.max_length}: give at least 2 ([CLS] and [SEP])")


class PretrainedTokens:
    """Token ids of the raw texts from the encoder's tokenizer, batched with their attention mask.

    Args:
        tokenizer: the encoder's tokenizer.
        max_length: tokens kept per text.
        carried: what rebuilds the tokenizer and the encoder's architecture offline (config and tokenizer files).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int, carried: dict) -> None:
        self.tokenizer, self.max_length, self.carried = tokenizer, max_length, carried

    @classmethod
    def load(cls, settings: PretrainedSettings) -> "PretrainedTokens":
        encoder = pretrained.load(settings.encoder)
        max_length = min(settings.max_length, encoder.tokenizer.model_max_length)
        return cls(encoder.tokenizer, max_length, pretrained.carried_files(encoder))

    @property
    def config(self) -> str:
        """The encoder's config.json as text: what the network is rebuilt from (tagger.models.encoder)."""
        return self.carried["config"]

    def __len__(self) -> int:
        return len(self.tokenizer)

    def encode_all(self, texts: Sequence[str], raw: Sequence[str] | None = None) -> list[list[int]]:
        """Token ids of each raw text (the cleaned ``texts`` are for n-grams), cut at max_length."""
        if raw is None or len(raw) != len(texts):
            raise ValueError("a pretrained tokenizer reads each cleaned text's raw text (title + description)")
        return self.tokenizer(list(raw), truncation=True, max_length=self.max_length)["input_ids"]

    def collate(self, ids: Sequence[list[int]]) -> BatchEncoding:
        """(B, L) input_ids and attention_mask, L the batch's longest text: the tokenizer's own padding."""
        return self.tokenizer.pad({"input_ids": list(ids)}, return_tensors="pt", return_attention_mask=True)

    def to_dict(self) -> dict:
        return self.carried | {"max_length": self.max_length}

    @classmethod
    def from_dict(cls, state: dict) -> "PretrainedTokens":
        """Rebuilt from the carried files alone: neither the hub nor the original folder is read."""
        carried = {key: state[key] for key in ("config", "tokenizer")}
        return cls(pretrained.rebuild(carried).tokenizer, int(state["max_length"]), carried)
