"""Which study an output folder and an MLflow experiment belong to. Both are named after the study, so a second
study of the same name in another storage would rewrite the first one's outputs and add its runs to the first
one's experiment: each records its study's storage, and a run of a study kept elsewhere is refused before any
work. (Keeping them apart instead, in folders and experiments named after the storage, would give every study
names a user cannot guess.)"""

import contextlib
import json
from pathlib import Path

import optuna

from tagger.errors import TaggerError
from tagger.files import write_atomic
from tagger.redact import redact
from tagger.tune.storage import absolute
from tagger.tune.tracker import PARENT_ATTR, STORE_ATTR, MlflowTracker, existing_store

MARKER = "study.json"  # in the output folder: {"study_name": ..., "storage": ...}
STORAGE_TAG = "tagger.storage"  # on the MLflow experiment


def check_owner(out: Path, tracking_uri: str, name: str, storage: str) -> None:
    """Refuse a study whose output folder or MLflow experiment holds the study of the same name of another
    storage (both given as absolute names). Reads only: creates neither the folder nor the tracking store."""
    owner, where = None, f"the output folder {out}"
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no marker, or not one of ours
        owner = json.loads((out / MARKER).read_text()).get("storage")
    if owner in (None, storage):
        owner, where = _experiment_tag(tracking_uri, name), f"the MLflow experiment {name!r} in {redact(tracking_uri)}"
    if owner not in (None, storage):
        raise TaggerError(
            f"{where} holds study {name!r} of {owner}, not of {storage}; rerun with --storage {owner}, or give this "
            "study another --study-name (or its own --output-dir and --tracking-uri)"
        )


def claim(out: Path, tracker: MlflowTracker, name: str, storage: str) -> None:
    """Record the study's storage in its output folder and on its experiment, once the checks passed."""
    write_atomic(out / MARKER, json.dumps({"study_name": name, "storage": storage}, indent=1) + "\n")
    tracker.client.set_experiment_tag(tracker.experiment_id, STORAGE_TAG, storage)


def _experiment_tag(tracking_uri: str, name: str) -> str | None:
    """The storage recorded on the study's experiment, if the store and the experiment exist."""
    experiment = client.get_experiment_by_name(name) if (client := existing_store(tracking_uri)) else None
    return experiment.tags.get(STORAGE_TAG) if experiment else None


def check_tracking_store(study: optuna.Study, tracking_uri: str) -> None:
    """A study resumed with another tracking store finds no parent run there: refuse it before the store is made.
    Both are named absolutely (a relative SQLite URL names another file from another folder); a copy of the
    study's store, holding its parent run, is its store too."""
    stored, parent = study.user_attrs.get(STORE_ATTR), study.user_attrs.get(PARENT_ATTR)
    if stored is None or absolute(stored) == redact(tracking_uri) or _holds_run(tracking_uri, parent):
        return
    raise TaggerError(
        f"study {study.study_name!r} tracks its runs in {absolute(stored)}, not in {redact(tracking_uri)}; rerun "
        f"with --tracking-uri {absolute(stored)}, or start another --study-name"
    )


def _holds_run(tracking_uri: str, run_id: str | None) -> bool:
    client = existing_store(tracking_uri) if run_id else None
    with contextlib.suppress(Exception):  # MLflow raises its own types, or the database's, for a missing run
        return client is not None and client.get_run(run_id) is not None
    return False
