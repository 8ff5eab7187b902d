"""`python -m tagger.predict --model best.ckpt "text" ...` or `--input FILE [--output FILE]`: tags for new texts
from one model file, one JSON line per text.

An input file is read and tagged a batch at a time, so its size does not matter; except a .json list, which the
standard library can only parse whole (use .jsonl or .csv for files larger than memory).
"""

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from tagger.commandline import called_as, version_text
from tagger.errors import TaggerError, reported
from tagger.files import atomic, unwritable

MODEL_HELP = "checkpoint (.ckpt) written by `tagger.cli fit`, or baseline (.npz) written by `tagger.baseline`"
INPUT_HELP = (
    "file of projects to tag, its format told by its suffix: .json (a list of objects, as projects.json), .jsonl "
    "(one object per line) or .csv (a header row); each row's text is its 'text' field, else title + ' ' + "
    "description, and its 'id' is copied to its result"
)
BATCH = 256  # texts per model call: a long input is never held whole


class Row(NamedTuple):
    """One text to tag; ``where`` names it in errors and notes ("line 3", "text 2")."""

    where: str
    id: Any  # the input's id (int or str), None when it has none
    text: str


def _row(path: Path, where: str, record: Any) -> Row:
    """The row of a JSON object or CSV record: its 'text', else its title and description joined by a space."""
    if not isinstance(record, dict):
        raise TaggerError(f"{path}: {where} is a JSON {type(record).__name__}, expected an object")
    fields = ["text"] if "text" in record else [f for f in ("title", "description") if f in record]
    if not fields:
        raise TaggerError(f"{path}: {where} has neither 'text' nor 'title'/'description'; give either")
    for field in fields:
        if not isinstance(record[field], str):
            raise TaggerError(f"{path}: {where} field '{field}' is {type(record[field]).__name__}, expected a string")
    return Row(where, record.get("id"), " ".join(record[f] for f in fields))


def _json_rows(path: Path, file: TextIO) -> Iterator[Row]:
    try:
        records = json.load(file)  # the standard library parses a JSON document only whole
    except json.JSONDecodeError as err:
        raise TaggerError(f"{path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    if not isinstance(records, list):
        raise TaggerError(f"{path}: expected a JSON list of objects, found a {type(records).__name__}")
    return (_row(path, f"record {number}", record) for number, record in enumerate(records, start=1))


def _jsonl_rows(path: Path, file: TextIO) -> Iterator[Row]:
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise TaggerError(f"{path}: line {number}: malformed JSON at column {err.colno}: {err.msg}") from None
        yield _row(path, f"line {number}", record)


def _csv_rows(path: Path, file: TextIO) -> Iterator[Row]:
    reader = csv.DictReader(file)
    columns = reader.fieldnames or []  # the header, read here: a wrong file fails before the model loads
    if not {"text", "title", "description"} & set(columns):
        raise TaggerError(
            f"{path}: no 'text', 'title' or 'description' column (its header: {', '.join(columns) or 'none'})"
        )
    # a short row leaves its last columns None: read as missing, not as a non-string value
    return (
        _row(path, f"line {reader.line_num}", {k: v for k, v in record.items() if v is not None}) for record in reader
    )


READERS = {".json": _json_rows, ".jsonl": _jsonl_rows, ".csv": _csv_rows}


@contextmanager
def reading(path: Path) -> Iterator[Iterator[Row]]:
    """The rows of an input file, read while the block runs; a missing or unknown file fails on entry."""
    read = READERS.get(path.suffix.lower())
    if read is None:
        raise TaggerError(f"{path}: unknown input format {path.suffix!r}; give a .json, .jsonl or .csv file")
    try:
        file = path.open(encoding="utf-8-sig", newline="")  # -sig: a byte-order mark (Excel's CSV) is no text
    except FileNotFoundError:
        raise TaggerError(f"{path}: file not found") from None
    except OSError as err:
        raise TaggerError(f"{path}: cannot read the file ({err.strerror})") from None
    with file:
        try:
            yield read(path, file)
        except UnicodeDecodeError as err:
            raise TaggerError(f"{path}: not UTF-8 text ({err.reason})") from None


@contextmanager
def writing(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears whole once the block ends without an error (else is not written)."""
    if path is None:
        yield sys.stdout
        return
    if reason := unwritable(path.parent):  # before the model is loaded
        raise TaggerError(f"--output {path}: cannot write there ({reason})")
    with atomic(path) as part, part.open("w", encoding="utf-8") as file:
        yield file


def batches(rows: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=called_as("tagger.predict"), description=__doc__)
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--input", type=Path, metavar="FILE", help=INPUT_HELP)
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="JSON Lines file for the results, written whole; default: stdout"
    )
    parser.add_argument(
        "texts", nargs="*", help="texts to tag; without them and without --input, one per line from stdin"
    )
    args = parser.parse_args(argv)
    if args.input is not None and args.texts:
        parser.error("give texts or --input, not both")
    if args.input is not None:
        source = reading(args.input)
    else:
        texts = args.texts or (line.rstrip("\n") for line in sys.stdin if line.strip())
        source = nullcontext(Row(f"text {number}", None, t) for number, t in enumerate(texts, start=1))
    with reported(), source as rows, writing(args.output) as out:
        from tagger.loading import load_model  # torch, Lightning, scikit-learn: not for --help

        model = load_model(args.model)
        for batch in batches(rows):
            for row, result in zip(batch, model.predict([r.text for r in batch]), strict=True):
                if "note" in result:
                    print(f"tagger: {row.where} ({row.text[:40]!r}): {result['note']}; no tags", file=sys.stderr)
                identified = result if row.id is None else {"id": row.id} | result
                out.write(json.dumps(identified, ensure_ascii=False) + "\n")
            out.flush()  # here, so that a closed pipe (`| head -1`) is reported by reported()


if __name__ == "__main__":
    main()
