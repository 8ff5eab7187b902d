"""The MLflow model of a tagger, as MLflow's models-from-code: this file is the model's code, the lean model
file its one artifact. Raw texts in (a ``text`` column), each text's tags and per-tag probabilities out.

MLflow copies this file into the logged model and runs it on load; nothing is pickled. The model file is
read by tagger.loading (``torch.load(weights_only=True)`` for a checkpoint, ``allow_pickle=False`` for a
baseline), so the environment that loads it needs tagger installed (``--env-manager local``).
"""

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel
from mlflow.pyfunc.model import PythonModelContext

from tagger.loading import load_model
from tagger.registry import ARTIFACT, outputs


class TaggerPyfunc(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.model = load_model(context.artifacts[ARTIFACT])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: dict | None = None):
        return outputs(self.model.predict([str(text) for text in model_input["text"]]))


set_model(TaggerPyfunc())
