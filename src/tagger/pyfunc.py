"""The MLflow model of a tagger, as MLflow's models-from-code: this file is the model's code, the lean model
file its one artifact. Raw texts in (a ``text`` column, else ``title`` and ``description``), each text's tags and
per-tag probabilities out.

MLflow copies this file into the logged model and runs it on load; nothing is pickled. The model file is
read by tagger.loading (``torch.load(weights_only=True)`` for a checkpoint, ``allow_pickle=False`` for a
baseline). tagger itself ships in the model's ``code/`` (registry.log_model's ``code_paths``), which MLflow puts
first on sys.path before it runs this file, so the imports below need only the model's requirements.txt.
"""

import math
import reprlib

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel
from mlflow.pyfunc.model import PythonModelContext

from tagger.loading import load_model
from tagger.predict import text_of
from tagger.registry import ARTIFACT, outputs


def _shown(value: object) -> str:
    """A row's value as its sender wrote it: JSON null arrives as None, or as NaN in a column of numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return f"{reprlib.repr(value)} ({type(value).__name__})"


def texts_of(model_input: pd.DataFrame) -> list[str]:
    """Each row's text as tagger.predict reads a record (a ``text`` column, else title + " " + description),
    refused (HTTP 400 from MLflow's scoring server) if a field is not a string: the signature's ``string`` does
    not stop null, numbers, lists or objects, and str() of them gets tags too."""
    texts = []
    for row, record in enumerate(model_input.to_dict("records")):
        try:
            texts.append(text_of(record))
        except ValueError as err:
            raise MlflowException.invalid_parameter_value(f"row {row} (counting from 0) {err}") from None
        except TypeError as err:
            field, value = err.args
            raise MlflowException.invalid_parameter_value(
                f"row {row} (counting from 0): {field} must be a string, got {_shown(value)}; send every row's "
                f"{field} as a JSON string"
            ) from None
    return texts


class TaggerPyfunc(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.model = load_model(context.artifacts[ARTIFACT])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: dict | None = None):
        return outputs(self.model.predict(texts_of(model_input)))


set_model(TaggerPyfunc())
