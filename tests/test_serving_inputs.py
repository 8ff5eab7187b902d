"""What the served model takes: strings only. Null, numbers, booleans, lists and objects are refused with the
row named, as HTTP 400 from MLflow's scoring server, instead of being tagged as str() of themselves."""

import json

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode
from mlflow.pyfunc.scoring_server import invocations

from tagger.loading import load_model
from tagger.pyfunc import texts_of

NOT_TEXT = {"null": None, "number": 5, "float": 1.5, "boolean": True, "list": [1, 2], "object": {"a": 1}}


@pytest.fixture(scope="module")
def served(registered):
    """The registered model as MLflow loads it: the signature's schema enforced before TaggerPyfunc.predict."""
    uri, _, info = registered
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.pyfunc.load_model(info.model_uri)
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("value", NOT_TEXT.values(), ids=NOT_TEXT)
def test_a_row_that_is_not_a_string_is_refused_and_named(served, value):
    with pytest.raises(MlflowException) as error:
        served.predict(pd.DataFrame({"text": ["a gan for faces", value]}))
    assert error.value.error_code == ErrorCode.Name(ErrorCode.INVALID_PARAMETER_VALUE)
    assert "row 1 (counting from 0): text must be a string, got " in error.value.message


def test_the_scoring_server_answers_a_null_row_with_400(served):
    body = json.dumps({"dataframe_records": [{"text": None}]})
    with pytest.raises(MlflowException) as error:
        invocations(body, "application/json", served, served.metadata.get_input_schema())
    assert error.value.get_http_status_code() == 400 and "row 0 (counting from 0)" in error.value.message
    assert "got null;" in error.value.message


def test_the_scoring_server_answers_no_rows_with_no_predictions(served):
    body = json.dumps({"dataframe_split": {"columns": ["text"], "data": []}})
    answer = invocations(body, "application/json", served, served.metadata.get_input_schema())
    assert answer.status == 200 and json.loads(answer.response) == {"predictions": []}


def test_title_and_description_rows_are_served_as_predict_reads_them(served, registered):
    """The same record shapes as tagger.predict: a text column, else title + " " + description."""
    _, lean, _ = registered
    rows = pd.DataFrame({"title": ["Graph neural networks", "GANs"], "description": ["for nodes", "for faces"]})
    answer = served.predict(rows)
    expected = load_model(lean).predict(["Graph neural networks for nodes", "GANs for faces"])
    assert list(answer["tags"].map(list)) == [r["tags"] for r in expected]
    assert list(answer["probabilities"]) == [r["probabilities"] for r in expected]


def test_a_row_with_neither_text_nor_title_is_refused():
    """(MLflow's schema drops the columns it does not name; a frame given to the model itself keeps them.)"""
    with pytest.raises(MlflowException, match=r"^row 0 \(counting from 0\) has neither 'text' nor 'title'"):
        texts_of(pd.DataFrame({"name": ["a gan for faces"]}))
