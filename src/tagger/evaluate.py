"""`python -m tagger.evaluate --model best.ckpt --projects FILE`: the model's metrics on labelled projects."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.preprocessing import MultiLabelBinarizer

from tagger.data.dataset import LabelMapping, load_projects, load_tags
from tagger.errors import TaggerError
from tagger.metrics import classification_report
from tagger.predict import Tagger


def evaluate(tagger: Tagger, projects_path: Path, tags_path: Path) -> dict:
    """Map the projects' tags as in training, keep the model's classes, and report the metrics.

    Projects left without any of the model's classes are skipped, as in training.
    """
    mapping = LabelMapping(
        load_tags(tags_path),
        frozenset(tagger.label_mapping["exclude"]),
        tagger.label_mapping["map_aliases"],
        tagger.label_mapping["add_parents"],
    )
    known = set(tagger.classes)
    projects, labels = [], []
    for project in load_projects(projects_path):
        tags = [t for t in mapping(project.tags) if t in known]
        if tags:
            projects.append(project)
            labels.append(tags)
    if not projects:
        raise TaggerError(f"{projects_path}: no project carries any of the model's {len(known)} tags")
    y_true = MultiLabelBinarizer(classes=tagger.classes).fit_transform(labels)
    y_prob = tagger.predict_proba([p.text for p in projects])
    report = classification_report(y_true, (y_prob >= tagger.threshold).astype(np.int64), tagger.classes)
    return report | {"threshold": tagger.threshold}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tagger.evaluate", description=__doc__)
    parser.add_argument("--model", required=True, help="checkpoint (.ckpt) written by `tagger.cli fit`")
    parser.add_argument("--projects", required=True, type=Path, help="labelled projects.json-format file")
    parser.add_argument("--tags", type=Path, help="tags.json (aliases, parents); default: beside --projects")
    args = parser.parse_args(argv)
    try:
        report = evaluate(Tagger.load(args.model), args.projects, args.tags or args.projects.with_name("tags.json"))
    except TaggerError as err:
        sys.exit(f"tagger: error: {err}")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
