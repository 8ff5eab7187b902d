import json

import pytest

from tagger.data.dataset import LabelMapping, TagInfo, frequent_labels, load_projects, load_tags
from tagger.errors import TaggerError

TAGS = {
    "pytorch": TagInfo(aliases=("torch",), parents=()),
    "object-detection": TagInfo(aliases=(), parents=("computer-vision",)),
    "computer-vision": TagInfo(aliases=("cv",), parents=()),
    "python": TagInfo(aliases=(), parents=()),
}


def write(tmp_path, payload, name="projects.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def test_projects_join_title_and_description(tmp_path):
    path = write(tmp_path, [{"id": 1, "title": "A", "description": "b c", "tags": ["x"], "extra": 0}])
    (project,) = load_projects(path)
    assert project.text == "A b c" and project.tags == ("x",)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[{", "malformed JSON at line 1"),
        ({"id": 1}, "expected a JSON list"),
        ([{"id": 1, "title": "t", "tags": []}], "record 0 has no field 'description'"),
        ([{"id": 1, "title": 3, "description": "d", "tags": []}], "field 'title' is int"),
        ([{"id": 1, "title": "t", "description": "d", "tags": "nlp"}], "field 'tags' is str"),
        ([{"id": 1, "title": "t", "description": "d", "tags": [1]}], "list of strings"),
        (["text"], "record 0 is str"),
    ],
)
def test_bad_projects_name_file_and_problem(tmp_path, payload, message):
    path = write(tmp_path, payload)
    with pytest.raises(TaggerError, match=message) as err:
        load_projects(path)
    assert str(path) in str(err.value)


def test_unreadable_file(tmp_path):
    path = write(tmp_path, b"\xff\xfe".decode("latin-1"))
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TaggerError, match="cannot read"):
        load_projects(path)
    with pytest.raises(TaggerError, match="file not found"):
        load_projects(tmp_path / "absent.json")


def record(pid: int | str, title: str, tags: tuple[str, ...] = ("x",)) -> dict:
    return {"id": pid, "title": title, "description": "d", "tags": list(tags), "created_on": str(pid)}


def test_repeated_projects_are_dropped_with_a_count(tmp_path, capsys):
    """Exact repeats (tags in any order), then the same title and description under another id: the first stays."""
    rows = [record(1, "A", ("x", "y")), record(2, "B"), record(1, "A", ("y", "x")), record(3, "A"), record(2, "B")]
    path = write(tmp_path, rows)
    assert [p.id for p in load_projects(path)] == [1, 2]
    assert capsys.readouterr().err.splitlines() == [
        f"tagger: dropped 2 exact duplicate projects from {path}",
        f"tagger: dropped 1 projects from {path} that repeat another's title and description under another id",
    ]
    assert [p.id for p in load_projects(write(tmp_path, rows[:2]))] == [1, 2]
    assert capsys.readouterr().err == ""


def test_different_records_under_one_id_are_refused(tmp_path):
    path = write(tmp_path, [record(1, "A"), record(2, "B"), record(1, "A", ("y",)), record(2, "C"), record(2, "D")])
    with pytest.raises(TaggerError, match=r"records 0 and 2 share id 1 but differ \(2 such ids\); keep one record"):
        load_projects(path)


def test_tags_file(tmp_path):
    path = write(tmp_path, [{"tag": "cv", "aliases": ["vision"], "parents": []}], "tags.json")
    assert load_tags(path) == {"cv": TagInfo(aliases=("vision",), parents=())}
    with pytest.raises(TaggerError, match="no field 'parents'"):
        load_tags(write(tmp_path, [{"tag": "cv", "aliases": []}], "tags.json"))


def test_label_mapping_keeps_accepted_non_generic_tags():
    mapping = LabelMapping(TAGS)
    assert mapping(["pytorch", "torch", "python", "unknown", "pytorch"]) == ["pytorch"]


def test_label_mapping_options():
    assert LabelMapping(TAGS, map_aliases=True)(["torch", "cv"]) == ["pytorch", "computer-vision"]
    assert LabelMapping(TAGS, add_parents=True)(["object-detection"]) == [
        "object-detection",
        "computer-vision",
    ]
    assert LabelMapping(TAGS, exclude=frozenset())(["python"]) == ["python"]


def test_frequent_labels():
    assert frequent_labels([["a", "b"], ["a"], ["c", "a"], ["b"]], min_freq=2) == ["a", "b"]


def test_an_empty_projects_file_says_so(tmp_path):
    """Not blamed on the tag filter (fit) or on the model's tags (evaluate)."""
    path = write(tmp_path, [])
    with pytest.raises(TaggerError) as err:
        load_projects(path)
    assert str(err.value) == f"{path}: holds no projects (an empty list); give a file of projects"
