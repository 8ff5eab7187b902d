"""`python -m tagger.evaluate --model best.ckpt --split test` (or `--projects FILE`): the model's metrics on
labelled projects, as a per-tag table (or JSON, with --json or --output)."""

import argparse
import json
import sys
from pathlib import Path

from tagger.commandline import called_as, version_text
from tagger.errors import TaggerError, reported
from tagger.files import write_atomic
from tagger.predict import MODEL_HELP

SPLITS = ("train", "val", "test")
SPLIT_HELP = (
    "instead of --projects: score this split of fit's data, cut again as the model's fit cut it (the seed, split "
    "sizes, folds and tag filter its checkpoint carries); test: the projects no choice of the fit has seen"
)
DATA_DIR_HELP = (
    "with --split: the folder of fit's projects.json and tags.json; default: fit's ($TAGGER_DATA_DIR, else ./data)"
)


def table(report: dict) -> str:
    """The report laid out as scikit-learn's classification_report: a row per tag, then the averages. The macro
    row is the report's own (over the tags present in the file), so it matches the JSON's "f1"."""
    per_class, overall, threshold = report["per_class"], report["overall"], report["threshold"]
    per_tag = isinstance(threshold, list)
    width = max(len(name) for name in [*per_class, "weighted avg"])
    head = f"{'':{width}}  precision  recall  f1-score  support" + ("  threshold" if per_tag else "")
    lines = [head, ""]
    for number, (name, c) in enumerate(per_class.items()):
        row = f"{name:>{width}}  {c['precision']:9.3f}  {c['recall']:6.3f}  {c['f1']:8.3f}  {c['support']:7d}"
        lines.append(row + (f"  {threshold[number]:9.3f}" if per_tag else ""))
    lines += [
        "",
        f"{'macro avg':>{width}}  {overall['precision']:9.3f}  {overall['recall']:6.3f}  {overall['f1']:8.3f}",
        f"{'weighted avg':>{width}}  {'':9}  {'':6}  {overall['f1_weighted']:8.3f}",
        f"{'micro avg':>{width}}  {'':9}  {'':6}  {overall['f1_micro']:8.3f}",
        "",
        f"{report['num_samples']} projects"
        + (f" of the {report['split']} split" if "split" in report else "")
        + ("; thresholds per tag" if per_tag else f"; threshold {threshold:.3f}")
        + f"; macro avg over the {len(per_class) - len(report['absent_classes'])} tags present",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=called_as("tagger.evaluate"), description=__doc__)
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--projects", type=Path, help="labelled projects.json-format file")
    source.add_argument("--split", choices=SPLITS, help=SPLIT_HELP)
    parser.add_argument("--tags", type=Path, help="tags.json (aliases, parents); default: beside --projects")
    parser.add_argument("--data-dir", help=DATA_DIR_HELP)
    parser.add_argument("--json", action="store_true", help="print the full report as JSON instead of the table")
    parser.add_argument("--output", type=Path, metavar="FILE", help="also write the full report as JSON to this file")
    args = parser.parse_args(argv)
    if args.split and args.tags:
        parser.error("--tags goes with --projects; with --split the tags are fit's, beside its projects")
    if args.projects and args.data_dir:
        parser.error("--data-dir goes with --split; with --projects give --tags for a tags.json elsewhere")
    with reported():
        if args.projects is not None:
            tags = check_files(args.projects, args.tags)
        from tagger.evaluation import evaluate, evaluate_split  # torch, Lightning, scikit-learn: not for --help
        from tagger.loading import load_model

        model = load_model(args.model)
        if args.split is not None:
            report = evaluate_split(model, args.split, args.data_dir, args.model)
        else:
            report = evaluate(model, args.projects, tags)
        text = json.dumps(report, indent=2, ensure_ascii=False)
        if args.output is not None:
            try:
                write_atomic(args.output, (text + "\n").encode())  # UTF-8 whatever the locale
            except OSError as err:
                raise TaggerError(f"--output {args.output}: cannot write the report ({err.strerror})") from None
        print(text if args.json else table(report))
    for line in notes(report):
        print(f"tagger: {line}", file=sys.stderr)


def check_files(projects: Path, tags: Path | None) -> Path:
    """The tags.json to read, both files checked before the model loads, the projects first: a wrong --projects
    also lacks its tags.json."""
    if not projects.is_file():
        raise TaggerError(f"--projects {projects}: file not found")
    if tags is not None and not tags.is_file():
        raise TaggerError(f"--tags {tags}: file not found")
    beside = projects.with_name("tags.json")
    if tags is None and not beside.is_file():
        raise TaggerError(f"{beside}: file not found (tags.json is looked for beside --projects); give --tags FILE")
    return tags or beside


def notes(report: dict) -> list[str]:
    """What the figures leave out (skipped projects, absent tags), and a warning when the model was trained on
    some of the projects scored: figures on its training data are optimistic."""
    lines = []
    if skipped := report["skipped_projects"]:
        lines.append(f"{skipped} projects skipped (none of the model's tags)")
    if absent := report["absent_classes"]:
        present = len(report["per_class"]) - len(absent)
        lines.append(f"macro figures over the {present} tags present; {len(absent)} absent: {', '.join(absent)}")
    if seen := report["trained_on"]:
        lines.append(
            f"warning: the model was trained on {seen} of these {report['num_samples']} projects, so its figures "
            "are optimistic; for held-out figures use --split test"
        )
    return lines


if __name__ == "__main__":
    main()
