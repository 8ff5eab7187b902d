import hashlib
import io
import urllib.error

import pytest

from tagger.data import download
from tagger.data.download import RemoteFile, ensure_file, resolve_data_dir
from tagger.errors import TaggerError


def fake_urlopen(payload: bytes):
    def urlopen(url, timeout):
        return io.BytesIO(payload)

    return urlopen


def test_offline_gives_one_clear_message(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(TaggerError) as err:
        ensure_file(tmp_path / "data", download.PROJECTS)
    message = str(err.value)
    assert "could not be downloaded" in message and "Name or service not known" in message
    assert str((tmp_path / "data").resolve()) in message and "TAGGER_DATA_DIR" in message


def test_download_is_verified_and_saved_once(tmp_path, monkeypatch):
    payload = b"[]"
    remote = RemoteFile("projects.json", "https://example.invalid/p.json", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen(payload))
    path = ensure_file(tmp_path, remote)
    assert path.read_bytes() == payload
    monkeypatch.setattr(download.urllib.request, "urlopen", None)  # a second call must not download
    assert ensure_file(tmp_path, remote) == path


def test_checksum_mismatch_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen(b"tampered"))
    with pytest.raises(TaggerError, match="sha256"):
        ensure_file(tmp_path, download.TAGS)
    assert list(tmp_path.iterdir()) == []


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    assert resolve_data_dir("elsewhere").name == "elsewhere"
    monkeypatch.delenv("TAGGER_DATA_DIR")
    assert str(resolve_data_dir(None)) == "data"


def test_without_development_data_the_public_files_are_downloaded_once(data_dir, tmp_path, monkeypatch):
    """A fresh clone without ../shared/data: the test data comes from the pinned URLs (here file:// URLs
    of the test data, which follows $TAGGER_DATA_DIR), verified and cached; a second call downloads nothing."""
    from conftest import development_data

    for name in ("PROJECTS", "TAGS"):
        local = data_dir / getattr(download, name).name
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        monkeypatch.setattr(download, name, RemoteFile(local.name, local.as_uri(), digest))
    cache = tmp_path / "data"
    assert development_data(None, tmp_path / "no-shared", cache) == cache
    assert (cache / "projects.json").read_bytes() == (data_dir / "projects.json").read_bytes()
    monkeypatch.setattr(download.urllib.request, "urlopen", None)  # cached: no second download
    assert development_data(None, tmp_path / "no-shared", cache) == cache


def test_without_development_data_and_offline_the_tests_stop_with_the_message(tmp_path, monkeypatch):
    from conftest import development_data

    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(pytest.fail.Exception, match="could not be downloaded.*TAGGER_DATA_DIR"):
        development_data(None, tmp_path / "no-shared", tmp_path / "data")
