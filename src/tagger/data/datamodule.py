"""LightningDataModule: files → labels → cleaned (and raw) texts → seeded split → encoder → batches.

The encoder, fitted on the train split, is a Tokenizer (token ids, padded: what the CNN reads),
TfidfFeatures (TF-IDF n-gram rows: what the n-gram networks read), HybridFeatures (those rows beside a frozen
pretrained embedding of the raw text) or PretrainedTokens (a pretrained encoder's own tokens of the raw text: what
a fine-tuned encoder reads), chosen by ``features``.
"""

import functools
import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import lightning.pytorch as L
import numpy as np
import torch
from sklearn.preprocessing import MultiLabelBinarizer
from torch.utils.data import DataLoader

from tagger.data.cleaning import TextCleaning
from tagger.data.dataset import GENERIC_TAGS, LabelMapping, frequent_labels, load_projects, load_tags
from tagger.data.download import PROJECTS, TAGS, ensure_file, resolve_data_dir
from tagger.data.embeddings import EmbeddingCache, EmbeddingSettings, cache_root
from tagger.data.features import HybridFeatures, TfidfFeatures, TfidfSettings
from tagger.data.pretrained_tokens import PretrainedSettings, PretrainedTokens
from tagger.data.sampler import BucketBatchSampler
from tagger.data.split import stratified_fold, stratified_split
from tagger.data.tokenizer import Tokenizer
from tagger.errors import TaggerError

Split = Literal["train", "val", "test"]
Features = Literal["tokens", "tfidf", "hybrid", "encoder"]
# What a network reads (its data_features, tagger.models.features_of) under each --data.features: hybrid rows
# are TF-IDF rows with more columns, so the n-gram networks take them as they are.
INPUTS: dict[str, str] = {"tokens": "tokens", "tfidf": "tfidf", "hybrid": "tfidf", "encoder": "encoder"}
Encoder = Tokenizer | TfidfFeatures | HybridFeatures | PretrainedTokens
_STATE_KEYS: dict[type, str] = {
    Tokenizer: "tokenizer",
    TfidfFeatures: "tfidf",
    HybridFeatures: "hybrid",
    PretrainedTokens: "pretrained",
}


def encoder_state(encoder: Encoder) -> dict:
    return {_STATE_KEYS[type(encoder)]: encoder.to_dict()}


def encoder_from_state(state: dict) -> Encoder:
    """The encoder a checkpoint's DataModule state holds (checkpoints before TF-IDF hold a tokenizer only)."""
    for cls, key in _STATE_KEYS.items():
        if key in state:
            return cls.from_dict(state[key])
    raise KeyError("no encoder in the saved state")


@dataclass(frozen=True)
class Corpus:
    """The labelled, cleaned, split data; built once per DataModule."""

    texts: list[str]  # cleaned: what the n-gram features and the CNN's tokens read
    y: np.ndarray  # (N, C) 0/1
    classes: list[str]
    splits: dict[str, np.ndarray]  # split name -> row indices
    raw: list[str]  # title + " " + description as written: what a pretrained encoder reads


def check_folds(corpus: Corpus, folds: int, option: str = "--data.cv_folds") -> None:
    """Refuse cutting train+val into more folds than its rarest tag has projects: some folds would lack the tag,
    and their scores count it as missed (biased low) without a word. Train+val is the union of the corpus's train
    and val splits, so a corpus already cut into folds answers alike.

    Args:
        option: what the user set the number of folds with, for the message.
    """
    if folds < 2:
        return
    counts = corpus.y[np.union1d(corpus.splits["train"], corpus.splits["val"])].sum(0)  # (C,)
    rarest = int(counts.argmin())
    most = int(counts[rarest])
    if folds > most:
        fix = f"use a K of {most} or less" if most > 1 else "raise --data.min_tag_freq"
        raise TaggerError(
            f"{option} {folds}: the rarest tag, '{corpus.classes[rarest]}', has {most} projects in train+val, "
            f"so at most {most} folds can each hold every tag; {fix}"
        )


def fingerprint(cleaned: str) -> str:
    """A cleaned text's short digest: what a checkpoint keeps of each text it was trained on."""
    return hashlib.blake2b(cleaned.encode(), digest_size=8).hexdigest()


def _identity(path: Path) -> tuple[str, int, int]:
    """A file as a cache key: its path, modification time and size."""
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _labelled(
    projects: tuple[str, int, int],
    tags: tuple[str, int, int],
    min_tag_freq: int,
    exclude_tags: tuple[str, ...],
    map_aliases: bool,
    add_parents: bool,
    cleaning: TextCleaning,
) -> tuple[list[str], np.ndarray, list[str], list[str]]:
    """Cleaned texts, (N, C) labels, classes and raw texts of a projects file: read and cleaned once per process
    for all the DataModules a study builds (a trial's folds, the pre-flight's configs)."""
    mapping = LabelMapping(load_tags(Path(tags[0])), frozenset(exclude_tags), map_aliases, add_parents)
    projects_path = Path(projects[0])
    projects = load_projects(projects_path)
    labels = [mapping(p.tags) for p in projects]
    classes = frequent_labels(labels, min_tag_freq)
    if not classes:
        raise TaggerError(
            f"{projects_path}: no tag is left after filtering (accepted, not excluded, at least "
            f"min_tag_freq={min_tag_freq} occurrences); lower --data.min_tag_freq or check the tags"
        )
    keep = set(classes)
    rows = [(p, [t for t in tags if t in keep]) for p, tags in zip(projects, labels, strict=True)]
    rows = [(p, tags) for p, tags in rows if tags]
    y = MultiLabelBinarizer(classes=classes).fit_transform([tags for _, tags in rows]).astype(np.float32)
    return [cleaning(p.text) for p, _ in rows], y, classes, [p.text for p, _ in rows]


class TaggerDataModule(L.LightningDataModule):
    """Made With ML projects as (token ids, multi-hot tags) batches.

    Args:
        data_dir: folder with projects.json and tags.json; default $TAGGER_DATA_DIR, else ./data
            (the public files are downloaded there when absent).
        min_tag_freq: keep tags that occur at least this often (after the other filters).
        exclude_tags: accepted tags never predicted (too generic).
        map_aliases: count a tag's aliases as the tag.
        add_parents: add each tag's parents to a project's tags.
        features: "tokens" (ids of ``level`` tokens, for the CNN), "tfidf" (n-gram rows, for tagger.models.ngram),
            "hybrid" (n-gram rows beside ``embedding.alpha`` x a frozen embedding of the raw text) or "encoder"
            (``pretrained.encoder``'s own tokens of the raw text, for tagger.models.encoder).
        level: with tokens, tokenise into characters or words.
        tfidf: with tfidf or hybrid, which n-grams.
        embedding: with hybrid, the pretrained encoder and its pooling (embeddings cached, see
            tagger.data.embeddings).
        pretrained: with encoder, the pretrained model (the one place it is named: the CLI links it to the network)
            and the tokens read per text.
        split_sizes: train/val/test fractions.
        seed: seeds the split (and the folds).
        cv_folds: above 1, train and val together are cut into this many stratified folds; ``cv_fold`` is
            the validation part, the others train. The test split stays as it is, never in a fold.
        cv_fold: which fold validates.
        cv_seed: seeds the cut into folds (default: ``seed``); another value re-cuts the same train+val.
        train_on: "train+val" fits on both (the final model of a cross-validated study, whose threshold comes
            from out-of-fold predictions); the val split then reports on training data.
        batch_size: rows per batch; null: a whole split in one batch (what full-batch L-BFGS needs).
        bucketing: batch texts of similar length together (less padding, faster); off = plain shuffling.
    """

    def __init__(
        self,
        data_dir: str | None = None,
        min_tag_freq: int = 30,
        exclude_tags: list[str] = list(GENERIC_TAGS),  # noqa: B006 (jsonargparse needs the value)
        map_aliases: bool = False,
        add_parents: bool = False,
        cleaning: TextCleaning = TextCleaning(),  # noqa: B008 (frozen, so shared safely)
        features: Features = "tokens",
        level: Literal["char", "word"] = "char",
        tfidf: TfidfSettings = TfidfSettings(),  # noqa: B008 (frozen, so shared safely)
        embedding: EmbeddingSettings = EmbeddingSettings(),  # noqa: B008 (frozen, so shared safely)
        pretrained: PretrainedSettings = PretrainedSettings(),  # noqa: B008 (frozen, so shared safely)
        split_sizes: tuple[float, float, float] = (0.7, 0.15, 0.15),
        seed: int = 42,
        cv_folds: int = 1,
        cv_fold: int = 0,
        cv_seed: int | None = None,
        train_on: Literal["train", "train+val"] = "train",
        batch_size: int | None = 64,
        bucketing: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if batch_size is not None and batch_size < 1:
            raise TaggerError(f"--data.batch_size must be at least 1 (or null: a whole split), got {batch_size}")
        self.data_dir = resolve_data_dir(data_dir)
        self.min_tag_freq = min_tag_freq
        self.exclude_tags = list(exclude_tags)
        self.map_aliases = map_aliases
        self.add_parents = add_parents
        self.cleaning = cleaning
        self.features = features
        self.level = level
        self.tfidf = tfidf
        self.embedding = embedding
        self.pretrained = pretrained
        self.split_sizes = split_sizes
        self.seed = seed
        if cv_folds < 1:
            raise TaggerError(f"--data.cv_folds must be at least 1, got {cv_folds}")
        if train_on != "train" and cv_folds > 1:
            raise TaggerError("--data.train_on train+val takes no folds: leave --data.cv_folds at 1")
        self.cv_folds, self.cv_fold, self.cv_seed, self.train_on = cv_folds, cv_fold, cv_seed, train_on
        self.batch_size = batch_size
        self.bucketing = bucketing
        self.num_workers = num_workers
        self._encoder: Encoder | None = None

    # --- building the corpus (on first use: the model's sizes are linked from it at instantiation) ---

    @cached_property
    def corpus(self) -> Corpus:
        projects_path = ensure_file(self.data_dir, PROJECTS)
        tags_path = ensure_file(self.data_dir, TAGS)
        labelled = _labelled(
            _identity(projects_path),
            _identity(tags_path),
            self.min_tag_freq,
            tuple(self.exclude_tags),
            self.map_aliases,
            self.add_parents,
            self.cleaning,
        )
        texts, y, classes, raw = labelled
        if len(texts) * min(self.split_sizes) < 1:
            raise TaggerError(
                f"{projects_path}: a split is empty ({len(texts)} labelled projects, "
                f"split_sizes={self.split_sizes}); add data or change --data.split_sizes"
            )
        train, val, test = stratified_split(y, self.split_sizes, self.seed)
        if self.cv_folds > 1:
            check_folds(Corpus(texts, y, classes, {"train": train, "val": val, "test": test}, raw), self.cv_folds)
            cut_seed = self.seed if self.cv_seed is None else self.cv_seed
            train, val = stratified_fold(np.concatenate([train, val]), y, self.cv_folds, self.cv_fold, cut_seed)
        if self.train_on == "train+val":
            train = np.sort(np.concatenate([train, val]))
        return Corpus(texts, y, classes, {"train": train, "val": val, "test": test}, raw)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            train_texts = [self.corpus.texts[i] for i in self.corpus.splits["train"]]
            if self.features == "encoder":
                self._encoder = PretrainedTokens.load(self.pretrained)
            elif self.features == "hybrid":
                cache = EmbeddingCache(cache_root())
                self._encoder = HybridFeatures.fit(train_texts, self.tfidf, self.embedding, cache)
            elif self.features == "tfidf":
                self._encoder = TfidfFeatures.fit(train_texts, self.tfidf)
            else:
                self._encoder = Tokenizer.fit(train_texts, self.level)
        return self._encoder

    @property
    def tokenizer(self) -> Tokenizer:
        if not isinstance(self.encoder, Tokenizer):
            raise TaggerError(f"this DataModule encodes --data.features {self.features}, it has no tokenizer")
        return self.encoder

    @property
    def inputs(self) -> str:
        """What a network reads from this DataModule (its ``data_features``)."""
        return INPUTS[self.features]

    @property
    def classes(self) -> list[str]:
        return self.corpus.classes

    @property
    def vocab_size(self) -> int:
        """Input size: token vocabulary, or TF-IDF (and embedding) columns."""
        return len(self.encoder)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_weights(self) -> list[float]:
        """1 / train count per class (the seed's weighting), so rare tags weigh as much as common ones."""
        counts = self.corpus.y[self.corpus.splits["train"]].sum(0)
        return (1.0 / np.maximum(counts, 1.0)).tolist()

    @property
    def positive_rates(self) -> list[float]:
        """Share of train projects with each tag: what the "balanced" and "pos_weight" loss weightings need."""
        return self.corpus.y[self.corpus.splits["train"]].mean(0).tolist()

    # --- Lightning hooks ---

    def setup(self, stage: str | None = None) -> None:
        self.corpus  # noqa: B018 (fail here, with the data's own message, rather than in a loader)

    def dataset(self, split: Split) -> list[tuple[object, torch.Tensor]]:
        rows, corpus = self.corpus.splits[split], self.corpus
        inputs = self.encoder.encode_all([corpus.texts[i] for i in rows], [corpus.raw[i] for i in rows])
        return [(x, torch.from_numpy(self.corpus.y[i])) for x, i in zip(inputs, rows, strict=True)]

    def collate(self, batch: list[tuple[object, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = zip(*batch, strict=True)
        return self.encoder.collate(inputs), torch.stack(targets)

    def dataloader(self, split: Split, shuffle: bool = False) -> DataLoader:
        dataset = self.dataset(split)
        batch_size = self.batch_size or max(1, len(dataset))
        if self.bucketing and isinstance(self.encoder, Tokenizer | PretrainedTokens):  # TF-IDF rows: one length
            lengths = [len(tokens) for tokens, _ in dataset]
            batches = BucketBatchSampler(lengths, batch_size, shuffle, seed=self.seed)
            return DataLoader(dataset, batch_sampler=batches, collate_fn=self.collate, num_workers=self.num_workers)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=self.collate,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")

    # --- what a checkpoint must carry to predict without the data ---

    @property
    def label_mapping(self) -> dict:
        """LabelMapping's settings, which every saved model carries so evaluate maps a file's tags alike."""
        return {"exclude": list(self.exclude_tags), "map_aliases": self.map_aliases, "add_parents": self.add_parents}

    @property
    def split_settings(self) -> dict:
        """What, beside the cleaning and the label mapping, cuts a projects file into this DataModule's splits:
        what `tagger.evaluate --split` needs to cut fit's data again."""
        return {
            "min_tag_freq": self.min_tag_freq,
            "split_sizes": list(self.split_sizes),
            "seed": self.seed,
            "cv_folds": self.cv_folds,
            "cv_fold": self.cv_fold,
            "cv_seed": self.cv_seed,
            "train_on": self.train_on,
        }

    def state_dict(self) -> dict:
        """The encoder, classes, cleaning and label mapping a model needs to predict; how the data was split, and
        a fingerprint of each text it was trained on, for evaluate to score a split or warn of training data."""
        trained_on = {fingerprint(self.corpus.texts[i]) for i in self.corpus.splits["train"]}
        return encoder_state(self.encoder) | {
            "classes": list(self.classes),
            "cleaning": asdict(self.cleaning),
            "label_mapping": self.label_mapping,
            "split_seed": self.seed,
            "split": self.split_settings,
            "trained_on": sorted(trained_on),
        }

    def load_state_dict(self, state: dict) -> None:
        self._encoder = encoder_from_state(state)
        if list(state["classes"]) != self.classes:
            raise TaggerError(
                "the checkpoint was trained on other tags than this data yields "
                f"({len(state['classes'])} vs {self.num_classes}); use the same data and --data settings"
            )
