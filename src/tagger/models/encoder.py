"""A pretrained Hugging Face encoder with a linear head: the Made With ML course's fine-tuned SciBERT, for any encoder.

input_ids and attention_mask (the encoder's own tokenizer on the raw text: ``--data.features encoder``) →
encoder → pooled over the real tokens (mean, or the [CLS] token) → dropout → one logit per tag. How much of the
encoder trains is one argument, from none of it (a frozen feature extractor under a trained head) to all of it.
"""

import json
from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel

import tagger.pretrained as pretrained
from tagger.errors import TaggerError
from tagger.pretrained import Pooling


def from_config(config: str) -> PreTrainedModel:
    """The architecture a config.json (as text) describes, with fresh weights: what a checkpoint's state_dict fills."""
    return AutoModel.from_config(AutoConfig.for_model(**json.loads(config)))


def layers_of(encoder: PreTrainedModel) -> nn.ModuleList:
    """The encoder's stack of transformer layers (BERT's encoder.layer, DistilBERT's transformer.layer, ...)."""
    count = encoder.config.num_hidden_layers
    stacks = [m for m in encoder.modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if not stacks:
        raise TaggerError(
            f"{type(encoder).__name__} has no list of its {count} layers to train the top ones of; give "
            "--model.net.train_layers all or 0"
        )
    return stacks[0]


class EncoderNet(nn.Module):
    """(B, L) input_ids and attention_mask → (B, C) logits through a pretrained encoder and a linear head.

    Args:
        vocab_size: the tokenizer's vocabulary (from the data; the encoder has its own embedding of it).
        num_classes: number of tags.
        model: a Hugging Face hub id or model folder (tagger.pretrained resolves it). Under the CLI it is left out:
            the CLI gives the network ``--data.pretrained.encoder``, the one place the name is given, so the
            tokenizer and the encoder match.
        pooling: "mean" over the tokens the attention mask keeps, or "cls" (the first token).
        dropout_p: dropout on the pooled vector, before the head.
        train_layers: "all" fine-tunes every weight; K trains the top K transformer layers and freezes the rest
            (embeddings included); 0 freezes the encoder and trains the head alone.
        config: the encoder's config.json as text. Given, the encoder is built from it with fresh weights and
            ``model`` is not read: how a saved model is rebuilt offline (its weights are in the checkpoint).
    """

    data_features: ClassVar[str] = "encoder"  # the --data.features this network reads

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        model: str | None = None,
        pooling: Pooling = "mean",
        dropout_p: float = 0.1,
        train_layers: int | Literal["all"] = "all",
        config: str | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout_p < 1.0:
            raise TaggerError(f"--model.net.dropout_p {dropout_p}: give a value in [0, 1)")
        if model is None and config is None:
            raise TaggerError("EncoderNet needs a model (a Hugging Face hub id or folder) or its config")
        self.encoder = pretrained.load(model).model if config is None else from_config(config)
        if getattr(self.encoder, "pooler", None) is not None:  # BERT's dense layer on [CLS]: unused, tokens pooled here
            self.encoder.pooler = None
        self.encoder.train()  # from_pretrained returns eval mode; Lightning switches modes from here on
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout_p)
        self.head = nn.Linear(self.encoder.config.hidden_size, num_classes)
        self._freeze(train_layers)

    def _freeze(self, train_layers: int | Literal["all"]) -> None:
        if train_layers == "all":
            return
        layers = layers_of(self.encoder)
        if not 0 <= train_layers <= len(layers):
            raise TaggerError(
                f"--model.net.train_layers {train_layers}: the encoder has {len(layers)} layers; give 0 to "
                f"{len(layers)}, or all"
            )
        self.encoder.requires_grad_(False)
        for layer in layers[len(layers) - train_layers :]:
            layer.requires_grad_(True)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        mask = inputs["attention_mask"]  # (B, L), 0 = padding
        hidden = self.encoder(input_ids=inputs["input_ids"], attention_mask=mask).last_hidden_state  # (B, L, H)
        pooled = pretrained.pool(hidden, mask, self.pooling, normalize=False)  # (B, H)
        return self.head(self.dropout(pooled))  # (B, C)
