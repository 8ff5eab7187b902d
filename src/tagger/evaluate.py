"""`python -m tagger.evaluate --model best.ckpt --projects FILE`: the model's metrics on labelled projects."""

import argparse
import json
import sys
from pathlib import Path

from tagger.errors import reported
from tagger.predict import MODEL_HELP


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tagger.evaluate", description=__doc__)
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--projects", required=True, type=Path, help="labelled projects.json-format file")
    parser.add_argument("--tags", type=Path, help="tags.json (aliases, parents); default: beside --projects")
    args = parser.parse_args(argv)
    with reported():
        from tagger.evaluation import evaluate  # torch, Lightning, scikit-learn: not for --help
        from tagger.loading import load_model

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
