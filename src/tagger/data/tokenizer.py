"""Character- or word-level tokenizer, fitted on the train split and stored as plain JSON."""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

PAD, OOV = "<pad>", "<unk>"  # ids 0 and 1: 0 must stay padding (the model's zero embedding row)


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
