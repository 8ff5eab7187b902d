"""A trained model's metrics on a labelled projects file, its tags mapped as in training."""

from pathlib import Path

from sklearn.preprocessing import MultiLabelBinarizer

from tagger.data.dataset import LabelMapping, load_projects, load_tags
from tagger.errors import TaggerError
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
    y_prob = tagger.predict_proba([p.text for p in projects])
    report = score(y_true, y_prob, tagger.threshold, tagger.classes, macro_over_present=True)
    absent = [c for c, n in zip(tagger.classes, y_true.sum(0), strict=True) if n == 0]
    return report | {"threshold": tagger.threshold, "absent_classes": absent, "skipped_projects": skipped}
