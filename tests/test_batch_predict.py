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


@pytest.mark.parametrize(
    ("row", "fields"),
    [("3,Graph neural networks, node classification in PyTorch", 3), ("3", 1)],
    ids=["unquoted-comma", "short"],
)
def test_a_csv_row_with_more_or_fewer_fields_than_the_header_is_refused(trained, tmp_path, capsys, row, fields):
    """An unquoted comma would cut the text short without a word (DictReader keeps the rest apart)."""
    path = tmp_path / "comma.csv"
    path.write_text(f'id,text\n1,"GANs, quoted"\n{row}\n')
    with pytest.raises(SystemExit) as done:
        predict.main(["--model", str(trained[1]), "--input", str(path)])
    assert str(done.value).startswith(f"tagger: error: {path}: line 3 has {fields} fields, the header 2 (id, text); ")
    assert ("quote a field that holds a comma" in str(done.value)) == (fields > 2)
    assert capsys.readouterr().out == ""  # the bad row is in the first batch: nothing was tagged


def test_csv_output_has_a_row_per_text_and_a_probability_column_per_tag(trained, tmp_path, capsys):
    _, best = trained
    texts = ["Graph neural networks, node classification", "the and of"]
    predict.main(["--model", str(best), *texts])
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    predict.main(["--model", str(best), *texts, "--output", str(tmp_path / "out.csv")])
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    classes = list(expected[0]["probabilities"])
    assert list(rows[0]) == ["id", "text", "tags", "note", *(f"p:{c}" for c in classes)]
    assert [r["text"] for r in rows] == texts and [r["id"] for r in rows] == ["", ""]
    assert rows[0]["tags"].split(";") == expected[0]["tags"] and rows[0]["note"] == ""
    assert [float(rows[0][f"p:{c}"]) for c in classes] == list(expected[0]["probabilities"].values())
    assert rows[1]["note"] == expected[1]["note"] and rows[1]["tags"] == "" and rows[1][f"p:{classes[0]}"] == ""


@pytest.mark.parametrize("name", ["out.txt", "out.json", "out"])
def test_an_output_format_it_does_not_write_is_refused_before_tagging(trained, tmp_path, name):
    with pytest.raises(SystemExit) as done:
        predict.main(["--model", "never-loaded.ckpt", "--output", str(tmp_path / name), "text"])
    suffix = repr(Path(name).suffix)
    assert str(done.value) == (
        f"tagger: error: --output {tmp_path / name}: unknown output format {suffix}; give a .jsonl (JSON Lines) or "
        ".csv file"
    )
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["adir", "adir.jsonl"])
def test_an_output_that_is_a_folder_is_refused_before_tagging(tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(SystemExit) as done:
        predict.main(["--model", "never-loaded.ckpt", "--output", str(tmp_path / name), "text"])
    assert str(done.value) == (
        f"tagger: error: --output {tmp_path / name}: is a folder; give a file name ending in .jsonl or .csv"
    )


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="no /dev/full")
def test_a_full_disk_is_one_line_naming_the_output(trained, tmp_path):
    """/dev/full fails every write with ENOSPC. Reached through a link: the device is written in place (never
    replaced by a renamed file, which root could do)."""
    full = tmp_path / "out.jsonl"
    full.symlink_to("/dev/full")
    texts = [f"text {i} about gans" for i in range(3)]
    with pytest.raises(SystemExit) as done:
        predict.main(["--model", str(trained[1]), "--output", str(full), *texts])
    assert str(done.value) == f"tagger: error: --output {full}: cannot write the results (No space left on device)"
    assert full.is_symlink() and Path("/dev/full").is_char_device()
