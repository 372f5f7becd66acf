"""BentoML serving the benchmark's model, in BentoML 1.4's documented idiom.

A `@bentoml.service` class loads the model once; an `@bentoml.api` method takes a numpy
array (JSON body `{"data": [[...], ...]}`) and returns the labels. Default settings.
    BENCH_MODEL_DIR=<our model folder> bentoml serve bento_service:DecisionTrees --port 3000
"""

import os

import bentoml
import numpy as np
import our_estimator  # the estimator our image trained, from its model.skops


@bentoml.service
class DecisionTrees:
    def __init__(self) -> None:
        self.estimator, self.classes = our_estimator.load(os.environ["BENCH_MODEL_DIR"])

    @bentoml.api
    def predict(self, data: np.ndarray) -> np.ndarray:
        codes = self.estimator.predict(data)
        return codes if self.classes is None else self.classes[codes.astype(np.intp)]
