"""`tagger.predict --input FILE`: each format gives the results of its texts, a file is read a batch at a time,
and a bad file ends in one line naming the file and the row."""

import csv
import json
import re
from pathlib import Path

import pytest

from tagger import predict

PROJECTS = [
    {"id": 1, "title": "Graph neural networks", "description": "node classification in pytorch", "tags": ["graphs"]},
    {"id": "b", "title": "Ранжирование текстов", "description": "GANs für Gesichter", "tags": []},
]


def write(path: Path, projects: list[dict]) -> Path:
    """projects in the format that path's suffix names."""
    with path.open("w", encoding="utf-8", newline="") as file:
        if path.suffix == ".json":
            json.dump(projects, file, ensure_ascii=False)
        elif path.suffix == ".jsonl":
            file.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in projects)
        else:
            writer = csv.DictWriter(file, ["id", "title", "description"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(projects)
    return path


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_a_file_gives_the_results_of_its_texts_with_their_ids(trained, tmp_path, capsys, suffix):
    _, best = trained
    predict.main(["--model", str(best), *(p["title"] + " " + p["description"] for p in PROJECTS)])
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    source, output = write(tmp_path / f"projects{suffix}", PROJECTS), tmp_path / "results.jsonl"
    predict.main(["--model", str(best), "--input", str(source), "--output", str(output)])
    assert capsys.readouterr().out == ""
    ids = [str(p["id"]) if suffix == ".csv" else p["id"] for p in PROJECTS]  # CSV has no types
    results = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert results == [{"id": i} | r for i, r in zip(ids, expected, strict=True)]
    assert "Ранжирование текстов GANs für Gesichter" in output.read_text(encoding="utf-8")  # not \u escapes


def test_texts_without_ids_print_readable_results(trained, tmp_path, capsys):
    source = tmp_path / "texts.jsonl"
    source.write_text('{"text": "Ранжирование текстов"}\n\n{"text": "GANs in TensorFlow"}\n', encoding="utf-8")
    predict.main(["--model", str(trained[1]), "--input", str(source)])
    out = capsys.readouterr().out
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["Ранжирование текстов", "GANs in TensorFlow"]
    assert '"Ранжирование текстов"' in out and '"id"' not in out


def test_a_file_is_tagged_a_batch_at_a_time(trained, tmp_path, capsys):
    """A bad line after the first batch: that batch is out before the line is read; with --output, no file."""
    source = tmp_path / "many.jsonl"
    rows = [json.dumps({"id": i, "text": f"text {i} about gans"}) for i in range(predict.BATCH)]
    source.write_text("\n".join([*rows, "{not json"]) + "\n")
    message = re.escape(f"tagger: error: {source}: line {predict.BATCH + 1}: malformed JSON")
    with pytest.raises(SystemExit, match=message):
        predict.main(["--model", str(trained[1]), "--input", str(source)])
    assert len(capsys.readouterr().out.splitlines()) == predict.BATCH
    with pytest.raises(SystemExit, match=message):
        predict.main(["--model", str(trained[1]), "--input", str(source), "--output", str(tmp_path / "out.jsonl")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.jsonl"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "file not found"),
        ("projects.txt", "text", "unknown input format '.txt'; give a .json, .jsonl or .csv file"),
        ("bad.json", '[{"id": 1, "title": "x"', "malformed JSON at line 1"),
        ("bad.json", '[{"title": 3}]', "record 1 field 'title' is int, expected a string"),
        ("bad.jsonl", '{"text": "fine"}\n{"name": "x"}\n', "line 2 has neither 'text' nor 'title'/'description'"),
        ("bad.jsonl", '{"text": "fine"}\n[1]\n', "line 2 is a JSON list, expected an object"),
        ("bad.csv", "name,body\nx,y\n", "no 'text', 'title' or 'description' column (its header: name, body)"),
    ],
)
def test_a_bad_input_file_is_one_line_naming_it(trained, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as done:
        predict.main(["--model", str(trained[1]), "--input", str(path)])
    assert str(done.value).startswith(f"tagger: error: {path}: {message}")
