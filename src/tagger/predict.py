"""`python -m tagger.predict --model best.ckpt "text" ...` or `--input FILE [--output FILE]`: tags for new texts
from one model file, one JSON line per text (or a CSV row each, with --output FILE.csv).

An input file is read and tagged a batch at a time, so its size does not matter; except a .json list, which the
standard library can only parse whole (use .jsonl or .csv for files larger than memory).
"""

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext, suppress
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
OUTPUT_HELP = (
    "file for the results, written whole, its format told by its suffix: .jsonl (one JSON object a line, as "
    "on stdout) or .csv (columns id, text, tags joined by ';', note, and one p:<tag> column of probabilities a "
    "tag); default: JSON Lines on stdout"
)
BATCH = 256  # texts per model call: a long input is never held whole


class Row(NamedTuple):
    """One text to tag; ``where`` names it in errors and notes ("line 3", "text 2")."""

    where: str
    id: Any  # the input's id (int or str), None when it has none
    text: str


def text_of(record: Mapping[str, Any]) -> str:
    """A record's text: its 'text', else its 'title' and 'description' joined by a space (either may be absent).

    The one rule for every input of a model, predict's files and the MLflow model's rows, each of which says
    in its own terms which record is wrong: ValueError when it has none of these fields, TypeError(field, value)
    when one is not a string.
    """
    fields = ["text"] if "text" in record else [f for f in ("title", "description") if f in record]
    if not fields:
        raise ValueError("has neither 'text' nor 'title'/'description'; give either")
    for field in fields:
        if not isinstance(record[field], str):
            raise TypeError(field, record[field])
    return " ".join(record[f] for f in fields)


def _row(path: Path, where: str, record: Any) -> Row:
    """The row of a JSON object or CSV record (text_of)."""
    if not isinstance(record, dict):
        raise TaggerError(f"{path}: {where} is a JSON {type(record).__name__}, expected an object")
    try:
        return Row(where, record.get("id"), text_of(record))
    except ValueError as err:
        raise TaggerError(f"{path}: {where} {err}") from None
    except TypeError as err:
        field, value = err.args
        raise TaggerError(f"{path}: {where} field '{field}' is {type(value).__name__}, expected a string") from None


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
    return (_csv_row(path, reader.line_num, columns, record) for record in reader)


def _csv_row(path: Path, line: int, columns: list[str], record: dict) -> Row:
    """A CSV record with exactly the header's fields: an unquoted comma in a text would otherwise cut it short
    (DictReader keeps the rest apart), and a short row would leave columns unset."""
    fields = len(columns) + len(record.get(None, [])) - sum(record[c] is None for c in columns)
    if fields > len(columns):
        raise TaggerError(
            f"{path}: line {line} has {fields} fields, the header {len(columns)} ({', '.join(columns)}); quote a "
            'field that holds a comma ("a, b"), as spreadsheets write it'
        )
    if fields < len(columns):
        raise TaggerError(
            f"{path}: line {line} has {fields} fields, the header {len(columns)} ({', '.join(columns)}); give "
            "every column, an empty one as nothing between two commas"
        )
    return _row(path, f"line {line}", record)


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


Write = Callable[[list[Row], list[dict]], None]  # a batch's rows and their results, out


def _jsonl_writer(file: TextIO, classes: list[str]) -> Callable[[Row, dict], None]:
    """One JSON object a line: the result, with the row's id first when it has one."""

    def write(row: Row, result: dict) -> None:
        identified = result if row.id is None else {"id": row.id} | result
        file.write(json.dumps(identified, ensure_ascii=False) + "\n")

    return write


def _csv_writer(file: TextIO, classes: list[str]) -> Callable[[Row, dict], None]:
    """A header row, then a row per text: id (empty without one), text, tags (joined by ';'), note (why a text
    got no tags, else empty), and one column of probabilities per tag, named ``p:<tag>`` (empty with a note)."""
    writer = csv.writer(file)
    writer.writerow(["id", "text", "tags", "note", *(f"p:{c}" for c in classes)])

    def write(row: Row, result: dict) -> None:
        probabilities = result["probabilities"]
        identity = "" if row.id is None else row.id
        tags = ";".join(result["tags"])
        writer.writerow(
            [identity, row.text, tags, result.get("note", ""), *(probabilities.get(c, "") for c in classes)]
        )

    return write


WRITERS = {".jsonl": _jsonl_writer, ".csv": _csv_writer}


def check_output(path: Path | None) -> None:
    """Refuse an --output that cannot take the results, before the model is loaded and any text tagged."""
    if path is None:
        return
    if path.is_dir():
        raise TaggerError(f"--output {path}: is a folder; give a file name ending in .jsonl or .csv")
    if path.suffix.lower() not in WRITERS:
        raise TaggerError(
            f"--output {path}: unknown output format {path.suffix!r}; give a .jsonl (JSON Lines) or .csv file"
        )
    if reason := unwritable(path.parent):
        raise TaggerError(f"--output {path}: cannot write there ({reason})")


@contextmanager
def _reported_as(name: str) -> Iterator[None]:
    """A failed write as one line naming the output; a closed stdout is left to reported()."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as err:
        raise TaggerError(f"{name}: cannot write the results ({err.strerror or err})") from None


@contextmanager
def _closing(file: TextIO) -> Iterator[TextIO]:
    """``file``, closed after the block; after an error, quietly: its results are not kept, and the write that
    failed (a full disk) would fail again and hide the first error."""
    try:
        yield file
    except BaseException:
        with suppress(OSError):
            file.close()
        raise
    file.close()


@contextmanager
def writing(path: Path | None, classes: list[str]) -> Iterator[Write]:
    """A function that writes a batch's results, in the format --output's suffix names (checked by
    check_output): to stdout, or to a file that appears whole once the block ends without an error (else is not
    written). A failed write (a full disk) ends in one line naming the output."""
    name = "stdout" if path is None else f"--output {path}"
    with ExitStack() as files:
        if path is None:
            file = sys.stdout
        elif path.exists() and not path.is_file():  # a device or a pipe (/dev/null): written in place, never replaced
            file = files.enter_context(_closing(path.open("w", encoding="utf-8", newline="")))
        else:
            part = files.enter_context(atomic(path))
            file = files.enter_context(_closing(part.open("w", encoding="utf-8", newline="")))
        with _reported_as(name):
            write_one = WRITERS[".jsonl" if path is None else path.suffix.lower()](file, classes)

        def write(rows: list[Row], results: list[dict]) -> None:
            with _reported_as(name):
                for row, result in zip(rows, results, strict=True):
                    write_one(row, result)
                file.flush()  # here, so that a closed pipe (`| head -1`) is reported by reported()

        yield write
        with _reported_as(name):
            files.close()  # the file's last bytes, then its rename: a full disk can fail either


def batches(rows: Iterable[Row], size: int = BATCH) -> Iterator[list[Row]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=called_as("tagger.predict"), description=__doc__)
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--input", type=Path, metavar="FILE", help=INPUT_HELP)
    parser.add_argument("--output", type=Path, metavar="FILE", help=OUTPUT_HELP)
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
    with reported(), source as rows:
        check_output(args.output)
        from tagger.loading import load_model  # torch, Lightning, scikit-learn: not for --help

        model = load_model(args.model)
        with writing(args.output, model.classes) as write:
            for batch in batches(rows):
                results = model.predict([r.text for r in batch])
                for row, result in zip(batch, results, strict=True):
                    if "note" in result:
                        print(f"tagger: {row.where} ({row.text[:40]!r}): {result['note']}; no tags", file=sys.stderr)
                write(batch, results)


if __name__ == "__main__":
    main()
