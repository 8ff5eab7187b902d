"""`python -m tagger.baseline`: TF-IDF + one-vs-rest logistic regression on fit's data and split.

The yardstick a network has to beat: same labels, cleaned texts and seeded split as `tagger.cli fit`, one global
threshold tuned on the validation split, scored on the test split (printed as tagger.evaluate's table; --json for
the whole report). The model is saved as arrays and JSON in one .npz (no pickle), which tagger.predict and
tagger.evaluate load like a checkpoint.
"""

import json
import sys
from pathlib import Path

from jsonargparse import ArgumentParser
from jsonargparse.typing import PositiveFloat

from tagger.commandline import KeptAnswers, called_as, version_text
from tagger.errors import TaggerError, reported
from tagger.files import unwritable
from tagger.help_formatter import HelpFormatter

KEPT = KeptAnswers("tagger.baseline", ("tagger-baseline", "python -m tagger.baseline"))
OUTPUT = Path("baselines") / "baseline.npz"  # git-ignored, removed by `make clean`, as fit's lightning_logs/


def run(argv: list[str], program: str) -> None:
    """The real command line: the parser built from fit's DataModule, then the fit."""
    from tagger.baseline_model import DEFAULT_C, ThresholdSplit, report, train  # torch, scikit-learn
    from tagger.data.datamodule import TaggerDataModule
    from tagger.evaluate import table

    parser = ArgumentParser(prog=program, description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=version_text())
    # fit's own data options (those that shape the corpus), so the two cannot drift apart
    skip = {"features", "level", "batch_size", "bucketing", "num_workers"}
    parser.add_class_arguments(TaggerDataModule, "data", skip=skip, fail_untyped=False, sub_configs=True)
    parser.add_argument("--C", type=PositiveFloat, default=DEFAULT_C, help="inverse L2 regularisation strength")
    parser.add_argument(
        "--threshold-split", type=ThresholdSplit, default="val", help="split the decision threshold is tuned on"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the model is saved (its folder is made)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON instead of the table")
    args = parser.parse_args(argv)
    with reported():
        if reason := unwritable(args.output.parent):  # before the fit, not after it
            raise TaggerError(f"--output {args.output}: cannot write in {args.output.parent} ({reason})")
        dm = parser.instantiate(args).data
        trained = train(dm, args.C, args.threshold_split)
        trained.model.save(args.output)
        figures = report(trained, dm.corpus)
        print(json.dumps(figures, indent=2) if args.json else table(figures))
        print(f"tagger: baseline saved to {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    program = called_as("tagger.baseline")
    KEPT.answer(argv, program)
    run(argv, program)


if __name__ == "__main__":
    main()
