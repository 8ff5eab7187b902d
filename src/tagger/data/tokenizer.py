"""Character- or word-level tokenizer (fitted on the train split, stored as plain JSON) and its padded batches."""

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch

PAD, OOV = "<pad>", "<unk>"  # ids 0 and 1: 0 must stay padding (the model's zero embedding row)


def pad_batch(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """(B, L) token ids padded with 0 to the longest sequence (at least one position, for empty texts)."""
    length = max(1, *map(len, sequences))
    tokens = torch.zeros(len(sequences), length, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return tokens


class Tokenizer:
    def __init__(self, level: Literal["char", "word"], vocab: list[str]) -> None:
        self.level = level
        self.vocab = vocab
        self.index = {token: i for i, token in enumerate(vocab)}

    @classmethod
    def fit(cls, texts: Iterable[str], level: Literal["char", "word"] = "char") -> "Tokenizer":
        tokens = {t for text in texts for t in cls._split(text, level)}
        return cls(level, [PAD, OOV, *sorted(tokens)])

    @staticmethod
    def _split(text: str, level: str) -> list[str]:
        return list(text) if level == "char" else text.split()

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        oov = self.index[OOV]
        return [self.index.get(t, oov) for t in self._split(text, self.level)]

    def encode_all(self, texts: Iterable[str], raw: Iterable[str] | None = None) -> list[list[int]]:
        """Token ids of each cleaned text (the raw ones, which pretrained encoders read, are not used)."""
        return [self.encode(text) for text in texts]

    collate = staticmethod(pad_batch)  # a batch of encode_all's items as the network's input

    def to_dict(self) -> dict:
        return {"level": self.level, "vocab": self.vocab}

    @classmethod
    def from_dict(cls, state: dict) -> "Tokenizer":
        return cls(state["level"], list(state["vocab"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        return cls.from_dict(json.loads(Path(path).read_text()))
