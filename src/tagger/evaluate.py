"""`python -m tagger.evaluate --model best.ckpt --projects FILE`: the model's metrics on labelled projects."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.preprocessing import MultiLabelBinarizer

from tagger.data.dataset import LabelMapping, load_projects, load_tags
from tagger.errors import TaggerError, reported
from tagger.metrics import classification_report
from tagger.predict import MODEL_HELP, load_model
from tagger.tagging import TaggingModel


def evaluate(tagger: TaggingModel, projects_path: Path, tags_path: Path) -> dict:
    """Map the projects' tags as in training, keep the model's classes, and report the metrics.

    Projects left without any of the model's classes are skipped, as in training, and counted. Macro
    figures average over the classes present in the file; the absent ones are listed.
    """
    mapping = LabelMapping(
        load_tags(tags_path),
        frozenset(tagger.label_mapping["exclude"]),
        tagger.label_mapping["map_aliases"],
        tagger.label_mapping["add_parents"],
    )
    known = set(tagger.classes)
    projects, labels, skipped = [], [], 0
    for project in load_projects(projects_path):
        tags = [t for t in mapping(project.tags) if t in known]
        if tags:
            projects.append(project)
            labels.append(tags)
        else:
            skipped += 1
    if not projects:
        raise TaggerError(f"{projects_path}: no project carries any of the model's {len(known)} tags")
    y_true = MultiLabelBinarizer(classes=tagger.classes).fit_transform(labels)
    y_prob = tagger.predict_proba([p.text for p in projects])
    y_pred = (y_prob >= np.asarray(tagger.threshold)).astype(np.int64)
    report = classification_report(y_true, y_pred, tagger.classes, macro_over_present=True)
    absent = [c for c, n in zip(tagger.classes, y_true.sum(0), strict=True) if n == 0]
    return report | {"threshold": tagger.threshold, "absent_classes": absent, "skipped_projects": skipped}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tagger.evaluate", description=__doc__)
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--projects", required=True, type=Path, help="labelled projects.json-format file")
    parser.add_argument("--tags", type=Path, help="tags.json (aliases, parents); default: beside --projects")
    args = parser.parse_args(argv)
    with reported():
        report = evaluate(load_model(args.model), args.projects, args.tags or args.projects.with_name("tags.json"))
        print(json.dumps(report, indent=2))
    if report["absent_classes"] or report["skipped_projects"]:
        print(
            f"tagger: {report['skipped_projects']} projects skipped (none of the model's tags); macro figures over "
            f"{len(report['per_class']) - len(report['absent_classes'])} classes present, "
            f"{len(report['absent_classes'])} absent: {', '.join(report['absent_classes']) or '-'}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
