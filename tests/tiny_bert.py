"""A tiny random BERT written as a Hugging Face model folder: what encoder tests load instead of a download.

The config is BERT's with a 32-wide, 2-layer encoder; the tokenizer is a WordPiece vocabulary trained with the
`tokenizers` library on a few sentences, saved as a fast BERT tokenizer (tokenizer.json). The folder loads with
AutoModel/AutoTokenizer.from_pretrained(folder), like a real one.
"""

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, BertTokenizerFast

SENTENCES = [
    "Graph neural networks for node classification in PyTorch",
    "A GAN that generates faces with TensorFlow",
    "Transformers for natural language processing and question answering",
    "Object detection and image segmentation with convolutional networks",
    "Reinforcement learning agents play Atari games",
    "Time series forecasting with recurrent networks",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece(sentences: list[str], vocab_size: int = 200) -> Tokenizer:
    """BERT's lowercasing WordPiece pipeline, trained on ``sentences``."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A random 2-layer BERT and its tokenizer saved in ``folder`` (safetensors weights)."""
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece(SENTENCES), model_max_length=64)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
