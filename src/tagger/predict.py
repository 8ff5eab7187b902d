"""`python -m tagger.predict --model best.ckpt "text" ...`: tags for new texts from one model file."""

import argparse
import json
import sys

from tagger.errors import reported

MODEL_HELP = "checkpoint (.ckpt) written by `tagger.cli fit`, or baseline (.npz) written by `tagger.baseline`"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tagger.predict", description=__doc__)
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("texts", nargs="*", help="texts to tag; one per line from stdin when none are given")
    args = parser.parse_args(argv)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    with reported():
        from tagger.loading import load_model  # torch, Lightning, scikit-learn: not for --help

        for number, result in enumerate(load_model(args.model).predict(texts), start=1):
            if "note" in result:
                print(f"tagger: text {number} ({result['text'][:40]!r}): {result['note']}; no tags", file=sys.stderr)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
