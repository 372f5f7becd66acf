# Yours: make update never changes this file (pyproject.toml's [tool.cruft] skip lists your files).
"""YOUR MODEL: a scikit-learn estimator (the iris decision tree by default). This file is yours
to change (see docs/your-model.md); contract/interface.py declares what the
contract calls in it.

The contract reads the data, types the hyperparameters, maps labels to class codes 0..k-1
and back, and runs the HTTP server. Here, `build` makes the estimator, any scikit-learn
estimator or Pipeline, and the rest fits, saves, loads and predicts it.

The fitted estimator is saved with skops (`model.skops`), which rebuilds only the types it
trusts and runs no code from the file, unlike pickle or joblib. skops trusts scikit-learn's
estimators and numpy's types by itself; TRUSTED_TYPES adds, by name, what else your model
holds. `train` loads the saved file back before it commits the model, so an object skops
cannot save or an untrusted type fails the training job, with its name and the ways forward
(contract/sklearn_files.py), not the endpoint.
"""

from pathlib import Path

import numpy as np

from contract import sklearn_files
from contract.hyperparameters import HyperparameterError
from contract.interface import Data, Job

FRAMEWORK = "scikit-learn"
# "skops": a file of data, loaded without running code from it. "joblib": any Python object
# (pickle), for code you trust: loading it runs code, so whoever can write the model.tar.gz can
# run code in the endpoint; pin it with MODEL_SHA256 (docs/model-files.md).
MODEL_FORMAT = "skops"
# "number": fit and predict get float64 features (NaN for a missing value); "text": the CSV
# cells as str, for a text or categorical model (docs/your-model.md, worked change 3).
FEATURE_TYPE = "number"
# A table by column name (docs/your-model.md, worked change 4): header name -> "number", "category" or
# "text" (unlisted columns are numbers); fit and predict then get a pandas DataFrame. {}: a matrix.
COLUMNS = {}
# The label column: a position (0 the first, -1 the last) or the header's name for it.
LABEL = 0
# Types skops may rebuild beyond its own trusted set. The tree's node arrays (shared by every
# tree model: DecisionTree*, RandomForest*, GradientBoosting*) hold raw indices that
# scikit-learn trusts, so skops asks for them by name: the image serves only models its own
# training jobs wrote. Add your own classes (e.g. "my_features.Tokenizer") the same way.
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]
CRITERIA = {
    "classification": ("gini", "entropy", "log_loss"),
    "regression": ("squared_error", "friedman_mse", "absolute_error", "poisson"),
}
# The hyperparameters this module handles itself; every other name in hyperparameters.json is
# passed to the estimator as it is, so a parameter added to the schema reaches the model.
OWN_HYPERPARAMETERS = ("task", "criterion")


def task_of(params: dict) -> str | None:
    return None if params["task"] == "auto" else params["task"]


def build(params: dict, job: Job):
    """The unfitted estimator for this job's task: change this to bring your own."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    estimator = DecisionTreeClassifier if job.task == "classification" else DecisionTreeRegressor
    return estimator(**tree_options(params, job))


def tree_options(params: dict, job: Job) -> dict:
    """The schema's hyperparameters as a tree model's keyword arguments (criterion=auto resolved)."""
    criterion = params["criterion"]
    if criterion == "auto":
        criterion = CRITERIA[job.task][0]
    elif criterion not in CRITERIA[job.task]:
        raise HyperparameterError(
            f"hyperparameter criterion={criterion!r} does not fit a {job.task} task; "
            f"use one of {', '.join(CRITERIA[job.task])} (or auto)"
        )
    passed = {name: value for name, value in params.items() if name not in OWN_HYPERPARAMETERS}
    return {**passed, "criterion": criterion}


def fit(params: dict, train: Data, validation: Data | None, job: Job):  # noqa: ARG001 (no early stopping)
    return build(params, job).fit(train.X, train.y)


def save(estimator, directory: Path) -> None:
    sklearn_files.save(estimator, directory, MODEL_FORMAT)


def load(directory: Path, threads: int):  # noqa: ARG001 (the worker's thread limits apply)
    return sklearn_files.load(directory, MODEL_FORMAT, TRUSTED_TYPES)


def predict(estimator, X: np.ndarray) -> np.ndarray:
    return estimator.predict(X)


def predict_proba(estimator, X: np.ndarray) -> np.ndarray:
    return estimator.predict_proba(X)


def offers(estimator) -> dict:
    """Probabilities only from an estimator that has them: asking a LinearSVC is a 400 saying why."""
    if hasattr(estimator, "predict_proba"):  # a Pipeline has it when its last step has
        return {"probabilities": True}
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return {"probabilities": False, "why": f"{type(final).__name__} has no predict_proba"}


def versions() -> dict[str, str]:
    import joblib
    import sklearn
    import skops

    versions = {"scikit-learn": sklearn.__version__, "skops": skops.__version__, "joblib": joblib.__version__}
    return {**versions, "numpy": np.__version__}
