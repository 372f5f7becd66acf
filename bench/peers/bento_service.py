"""BentoML serving the benchmark's model, in BentoML 1.4's documented idiom.

A `@bentoml.service` class loads the model once; an `@bentoml.api` method takes a numpy
array (JSON body `{"data": [[...], ...]}`) and returns the labels. Default settings.
    BENCH_PROGRAM_DIR=<rendered program folder> BENCH_MODEL_DIR=<model folder> \
        bentoml serve bento_service:DecisionTrees --port 3000
"""

import os

import bentoml
import numpy as np
import sklearn_tree  # the same fitted tree, as a scikit-learn estimator


@bentoml.service
class DecisionTrees:
    def __init__(self) -> None:
        self.estimator, self.classes = sklearn_tree.load(os.environ["BENCH_PROGRAM_DIR"], os.environ["BENCH_MODEL_DIR"])

    @bentoml.api
    def predict(self, data: np.ndarray) -> np.ndarray:
        return self.classes[self.estimator.predict(data)]
