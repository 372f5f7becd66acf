"""scikit-learn decision tree: what this framework adds to the shared container code.

The shared code reads the data, types the hyperparameters, maps labels to class codes
0..k-1 and back, and runs the HTTP server. This module only fits, saves, loads and
predicts. The model is saved with skops, whose loader rebuilds only the types it is
told to trust instead of running arbitrary code as a pickle would.
"""

from pathlib import Path

import numpy as np
import sklearn
import skops.io
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from hyperparameters import HyperparameterError

FRAMEWORK = "scikit-learn"
ARTIFACT = "model.skops"
ITERATION_METRICS: tuple[str, ...] = ()  # a tree is fitted in one go: no per-iteration metrics
CRITERIA = {
    "classification": ("gini", "entropy", "log_loss"),
    "regression": ("squared_error", "friedman_mse", "absolute_error", "poisson"),
}
# What a saved tree is made of: skops refuses any other type found in a model file.
TRUSTED = [
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
]


def task_of(params: dict) -> str | None:
    return None if params["task"] == "auto" else params["task"]


def fit(params, *, task, n_classes, X, y, X_valid, y_valid, threads):  # noqa: ARG001 (one thread)
    criterion = params["criterion"]
    if criterion == "auto":
        criterion = CRITERIA[task][0]
    elif criterion not in CRITERIA[task]:
        raise HyperparameterError(
            f"hyperparameter criterion={criterion!r} does not fit a {task} task; "
            f"use one of {', '.join(CRITERIA[task])} (or auto)"
        )
    estimator_class = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    estimator = estimator_class(
        criterion=criterion,
        max_depth=params["max_depth"],
        min_samples_split=params["min_samples_split"],
        min_samples_leaf=params["min_samples_leaf"],
        max_leaf_nodes=params["max_leaf_nodes"],
        min_impurity_decrease=params["min_impurity_decrease"],
        ccp_alpha=params["ccp_alpha"],
        random_state=params["random_state"],
    )
    return estimator.fit(X, y)


def save(estimator, path: Path) -> None:
    skops.io.dump(estimator, path)


def load(path: Path, threads: int):  # noqa: ARG001 (prediction is single-threaded)
    return skops.io.load(path, trusted=TRUSTED)


# Serving calls the fitted tree directly: estimator.predict spends ~20x longer checking its
# input (which payloads.py has already checked) than walking the tree. The template's
# tests (tests/test_frameworks.py) check that both give the same answers.
def predict(estimator, X: np.ndarray) -> np.ndarray:
    values = estimator.tree_.predict(np.ascontiguousarray(X, dtype=np.float32))
    if isinstance(estimator, DecisionTreeClassifier):
        return np.argmax(values, axis=1)
    return values[:, 0]


def predict_proba(estimator, X: np.ndarray) -> np.ndarray:
    values = estimator.tree_.predict(np.ascontiguousarray(X, dtype=np.float32))[:, : estimator.n_classes_]
    totals = values.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    return values / totals


def versions() -> dict[str, str]:
    return {"scikit-learn": sklearn.__version__, "skops": skops.__version__, "numpy": np.__version__}
