"""A trained model's metrics on labelled projects, its tags mapped as in training: a projects file, or one split
of fit's data cut again as the model's fit cut it."""

from pathlib import Path

import numpy as np
from sklearn.preprocessing import MultiLabelBinarizer

from tagger.data.datamodule import Split, TaggerDataModule, fingerprint
from tagger.data.dataset import LabelMapping, load_projects, load_tags
from tagger.errors import TaggerError
from tagger.loading import Tagger
from tagger.metrics import score
from tagger.tagging import TaggingModel


def evaluate(tagger: TaggingModel, projects_path: Path, tags_path: Path) -> dict:
    """Map the projects' tags as in training, keep the model's classes, and report the metrics.

    Projects left without any of the model's classes are skipped, as in training, and counted. Macro
    figures average over the classes present in the file; the absent ones are listed.
    """
    labelled = load_projects(projects_path)  # first: a wrong projects path is named, not the tags beside it
    mapping = LabelMapping(
        load_tags(tags_path),
        frozenset(tagger.label_mapping["exclude"]),
        tagger.label_mapping["map_aliases"],
        tagger.label_mapping["add_parents"],
    )
    known = set(tagger.classes)
    projects, labels, skipped = [], [], 0
    for project in labelled:
        tags = [t for t in mapping(project.tags) if t in known]
        if tags:
            projects.append(project)
            labels.append(tags)
        else:
            skipped += 1
    if not projects:
        raise TaggerError(f"{projects_path}: no project carries any of the model's {len(known)} tags")
    y_true = MultiLabelBinarizer(classes=tagger.classes).fit_transform(labels)
    texts = [p.text for p in projects]
    cleaned = [tagger.cleaning(t) for t in texts]
    return _report(tagger, y_true, tagger.predict_proba(texts), cleaned) | {"skipped_projects": skipped}


def evaluate_split(tagger: Tagger, split: Split, data_dir: str | None, model_path: str | Path) -> dict:
    """The model's metrics on one split of fit's data (``data_dir``, default fit's), cut again with the settings
    its checkpoint carries: the test split is what no choice of its fit or study has seen.

    Refused when the data is not the one the model was fitted on (other tags, or another train split): its
    "test" split could then hold training projects.
    """
    settings = tagger.split_settings
    if settings is None:
        raise TaggerError(
            f"--model {model_path}: the file does not say how its data was split (a baseline .npz, or a checkpoint "
            "written before evaluate --split); score a file of held-out projects with --projects"
        )
    dm = TaggerDataModule(
        data_dir,
        exclude_tags=tagger.label_mapping["exclude"],
        map_aliases=tagger.label_mapping["map_aliases"],
        add_parents=tagger.label_mapping["add_parents"],
        cleaning=tagger.cleaning,
        **settings | {"split_sizes": tuple(settings["split_sizes"])},
    )
    corpus = dm.corpus
    if corpus.classes != tagger.classes or {fingerprint(corpus.texts[i]) for i in corpus.splits["train"]} != (
        tagger.trained_on
    ):
        raise TaggerError(
            f"{dm.data_dir}: not the data that --model {model_path} was fitted on (other tags, or another train "
            "split); give --data-dir the folder its fit read"
        )
    rows = corpus.splits[split]
    texts = [corpus.texts[i] for i in rows]
    probs = tagger.proba_of_cleaned(texts, [corpus.raw[i] for i in rows])
    report = _report(tagger, corpus.y[rows].astype(int), probs, texts)
    return report | {"split": split, "skipped_projects": 0}


def _report(tagger: TaggingModel, y_true: np.ndarray, y_prob: np.ndarray, cleaned: list[str]) -> dict:
    """The metrics at the model's threshold, macro over the classes present; the absent classes; and how many of
    the texts the model was trained on (None when its file does not say)."""
    report = score(y_true, y_prob, tagger.threshold, tagger.classes, macro_over_present=True)
    absent = [c for c, n in zip(tagger.classes, y_true.sum(0), strict=True) if n == 0]
    seen = None if tagger.trained_on is None else sum(fingerprint(t) in tagger.trained_on for t in cleaned)
    return report | {"threshold": tagger.threshold, "absent_classes": absent, "trained_on": seen}
