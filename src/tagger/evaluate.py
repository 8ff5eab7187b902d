"""`python -m tagger.evaluate --model best.ckpt --projects FILE`: the model's metrics on labelled projects, as a
per-tag table (or JSON, with --json or --output)."""

import argparse
import json
import sys
from pathlib import Path

from tagger.commandline import called_as, version_text
from tagger.errors import TaggerError, reported
from tagger.files import write_atomic
from tagger.predict import MODEL_HELP


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
        + ("; thresholds per tag" if per_tag else f"; threshold {threshold:.3f}")
        + f"; macro avg over the {len(per_class) - len(report['absent_classes'])} tags present",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=called_as("tagger.evaluate"), description=__doc__)
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--projects", required=True, type=Path, help="labelled projects.json-format file")
    parser.add_argument("--tags", type=Path, help="tags.json (aliases, parents); default: beside --projects")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON instead of the table")
    parser.add_argument("--output", type=Path, metavar="FILE", help="also write the full report as JSON to this file")
    args = parser.parse_args(argv)
    tags = args.tags or args.projects.with_name("tags.json")
    with reported():
        # checked before the model loads, the projects first: a wrong --projects also lacks its tags.json
        if not args.projects.is_file():
            raise TaggerError(f"--projects {args.projects}: file not found")
        if not tags.is_file():
            if args.tags:
                raise TaggerError(f"--tags {tags}: file not found")
            raise TaggerError(f"{tags}: file not found (tags.json is looked for beside --projects); give --tags FILE")
        from tagger.evaluation import evaluate  # torch, Lightning, scikit-learn: not for --help
        from tagger.loading import load_model

        report = evaluate(load_model(args.model), args.projects, tags)
        text = json.dumps(report, indent=2, ensure_ascii=False)
        if args.output is not None:
            try:
                write_atomic(args.output, (text + "\n").encode())  # UTF-8 whatever the locale
            except OSError as err:
                raise TaggerError(f"--output {args.output}: cannot write the report ({err.strerror})") from None
        print(text if args.json else table(report))
    if report["absent_classes"] or report["skipped_projects"]:
        print(
            f"tagger: {report['skipped_projects']} projects skipped (none of the model's tags); macro figures over "
            f"{len(report['per_class']) - len(report['absent_classes'])} classes present, "
            f"{len(report['absent_classes'])} absent: {', '.join(report['absent_classes']) or '-'}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
