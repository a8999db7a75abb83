"""Accuracy: the share of predictions equal to the reference labels."""

import evaluate
import numpy as np

from hf_unlearn.metrics import sample_metric_info

_DESCRIPTION = "Accuracy = (correct predictions) / (all predictions), between 0 and 1."
_KWARGS = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
Returns:
    accuracy (float): share of correct predictions (NaN for empty inputs).
"""


class Accuracy(evaluate.Metric):
    """Classification accuracy, loadable offline from this folder."""

    def _info(self):
        return sample_metric_info(_DESCRIPTION, "", _KWARGS, predictions="int64")

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if predictions.size == 0:
            return {"accuracy": float("nan")}
        return {"accuracy": float((predictions == references).mean())}
