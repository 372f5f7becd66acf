"""YOUR MODEL: LightGBM gradient-boosted trees. This file is yours to change (see
docs/your-model.md); contract/interface.py declares what the contract calls in it.

The contract reads the data, types the hyperparameters, maps labels to class codes
0..k-1 and back, and runs the HTTP server. This module only fits, saves, loads and
predicts, with LightGBM's native API: `lightgbm.train` on a Dataset, and the booster
saved in LightGBM's own text model format (`Booster.save_model`), which holds trees and
settings only, so loading it never runs code as a pickle would.

With a validation channel, every iteration prints one `[iteration] validation:<metric>=
<value>` line (iterations counted from 1) and training stops early once the metric has
not improved for early_stopping_rounds iterations; the saved model keeps only the
iterations up to the best one, so predictions use the best iteration. When the job has a
checkpoint folder (SageMaker's CheckpointConfig, e.g. for managed spot training), the booster
is saved there every few iterations and at a SIGTERM, and a job that finds one goes on from
its iteration (contract/checkpoints.py).
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm
import numpy as np

from contract.boosting import Choices, Rounds
from contract.hyperparameters import HyperparameterError
from contract.interface import Data, Job
from contract.lightgbm_network import network_params

FRAMEWORK = "lightgbm"
# A table by column name (docs/your-model.md, worked change "churn"): header name -> "number", "category" or
# "text" (unlisted columns are numbers); fit and predict then get a pandas DataFrame. {}: a matrix.
COLUMNS = {}
# The label column: a position (0 the first, -1 the last) or the header's name for it.
LABEL = 0
ARTIFACT = "model.txt"  # LightGBM's text model format
CHECKPOINT_SUFFIX = ".txt"
CHECKPOINTS = True  # fit writes job.checkpoints and goes on from job.checkpoints.resume
# The hyperparameters this module handles itself; every other name in hyperparameters.json goes
# to LightGBM as it is (none: LightGBM's default), so a parameter added to the schema reaches the
# booster with no code, and `train` checks that the booster holds it (fitted_params below): a
# misspelled or dropped name fails. tree_learner goes to LightGBM too, but it applies only across
# hosts (one host learns serially, whatever it says), so the booster may not report it as given.
OWN_HYPERPARAMETERS = ("objective", "metric", "num_iterations", "early_stopping_rounds", "num_class", "tree_learner")
# What the validation channel may print each iteration: every metric choice. SageMaker's
# MetricDefinitions are built from this tuple, so a name missing here would not be recorded
# (after a change, `make metrics` copies it to iteration_metrics.json, which the lifecycle reads).
ITERATION_METRICS: tuple[str, ...] = (
    "binary_logloss",
    "binary_error",
    "auc",
    "average_precision",
    "multi_logloss",
    "multi_error",
    "rmse",
    "l1",
    "poisson",
    "gamma",
)
# Each objective the schema offers: its task, and the metric metric=auto picks for it.
OBJECTIVES = {
    "binary": ("classification", "binary_logloss"),
    "multiclass": ("classification", "multi_logloss"),
    "regression": ("regression", "rmse"),
    "regression_l1": ("regression", "l1"),
    "poisson": ("regression", "poisson"),
    "gamma": ("regression", "gamma"),
}
# Which metrics make sense for which kind of objective.
METRICS = {
    "binary": ("binary_logloss", "binary_error", "auc", "average_precision"),
    "multiclass": ("multi_logloss", "multi_error"),
    "regression": ("rmse", "l1", "poisson", "gamma"),
}
# Metrics that are a likelihood of one objective's distribution: with another objective
# the predictions may fall outside its support and the metric turns into inf or nan.
METRIC_OBJECTIVE = {"poisson": "poisson", "gamma": "gamma"}
# Labels an objective can take (LightGBM would stop with a less helpful message).
LABEL_DOMAIN = {
    "poisson": (lambda y: y >= 0, "0 or more"),
    "gamma": (lambda y: y > 0, "greater than 0"),
}
CHOICES = Choices(
    OBJECTIVES,
    METRICS,
    METRIC_OBJECTIVE,
    LABEL_DOMAIN,
    auto={"regression": "regression", "binary": "binary", "multiclass": "multiclass"},
    metric_key="metric",
)


class Log:
    """LightGBM's log. Its warning of an unknown parameter becomes a Python warning, which `train`
    turns into a failure naming the parameter; its other warnings (e.g. no further splits) are dropped,
    the metric lines being the stable output; lines of a higher verbosity, if you set one, are printed."""

    def info(self, message: str) -> None:
        if "Unknown parameter" in message:
            warnings.warn(message.strip(), stacklevel=2)
        elif "[Warning]" not in message:
            print(message, flush=True)

    def warning(self, message: str) -> None:
        warnings.warn(message, stacklevel=2)


lightgbm.register_logger(Log())


@dataclass
class Trained:
    """A trained booster, the kind of output its objective gives, and its prediction threads."""

    booster: lightgbm.Booster
    kind: str  # binary, multiclass or regression
    threads: int


def task_of(params: dict) -> str | None:
    objective = params["objective"]
    if objective != "auto":
        task = OBJECTIVES[objective][0]
        if params["num_class"] is not None and task == "regression":
            raise HyperparameterError(
                f"hyperparameter num_class={params['num_class']} is only for classification, "
                f"but objective={objective} is a regression objective; remove num_class"
            )
        return task
    # num_class asks for classification even of integer labels with many distinct values.
    return "classification" if params["num_class"] is not None else None


def fit(params: dict, train: Data, validation: Data | None, job: Job) -> "Trained":
    task, n_classes, threads = job.task, job.n_classes, job.threads
    X, y = train.X, train.y
    X_valid, y_valid = (None, None) if validation is None else (validation.X, validation.y)
    objective = CHOICES.objective(params, task, n_classes)
    kind = CHOICES.kind(objective)
    metric = CHOICES.metric(params, objective)
    CHOICES.check_labels(objective, y, "training")
    if y_valid is not None:
        CHOICES.check_labels(objective, y_valid, "validation")
    if params["bagging_fraction"] < 1.0 and params["bagging_freq"] == 0:
        raise HyperparameterError(
            f"hyperparameter bagging_fraction={params['bagging_fraction']} samples rows only when "
            "bagging_freq is 1 or more, but bagging_freq=0; set bagging_freq=1 or bagging_fraction=1"
        )
    booster_params = {
        name: value for name, value in params.items() if name not in OWN_HYPERPARAMETERS and value is not None
    }
    booster_params["tree_learner"] = params["tree_learner"]  # across hosts (contract/lightgbm_network.py)
    # verbosity 0: warnings only, which Log above drops but that of an unknown parameter
    booster_params.update(objective=objective, metric=metric, num_threads=threads, verbosity=0)
    booster_params.update(network_params(params))  # across hosts: LightGBM's network (contract/lightgbm_network.py)
    if kind == "multiclass":
        booster_params["num_class"] = n_classes
    # A table (COLUMNS in this file): LightGBM splits natively on its pandas category columns.
    dtrain = lightgbm.Dataset(X, label=y)
    valid_sets, patience = [], 0
    if X_valid is not None:
        valid_sets = [lightgbm.Dataset(X_valid, label=y_valid, reference=dtrain)]
        patience = params["early_stopping_rounds"]
    elif params["early_stopping_rounds"] > 0:
        print(
            f"no validation channel: training all {params['num_iterations']} iterations, no early stopping",
            flush=True,
        )
    # Metric lines, early stopping and checkpoints, iteration by iteration (contract/boosting.py).
    rounds = Rounds(metric, patience, metric in ("auc", "average_precision"), job.checkpoints)
    start = str(job.checkpoints.resume.file) if rounds.done else None  # a checkpoint of an interrupted job
    if start and not rounds.remaining(params["num_iterations"]):  # it had trained every iteration already
        booster = lightgbm.Booster(model_file=start)
    else:
        booster = lightgbm.train(
            booster_params,
            dtrain,
            num_boost_round=rounds.remaining(params["num_iterations"]),
            valid_sets=valid_sets,
            valid_names=["validation"] if valid_sets else None,
            callbacks=[EachIteration(rounds)],
            init_model=start,  # training goes on from its iteration
        )
    kept = rounds.kept(booster.current_iteration())
    if kept < booster.current_iteration():  # predictions use the best iteration: the ones after it are dropped
        booster = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=kept))
    if patience:
        rounds.report(kept, params["num_iterations"], "iteration")
    else:
        print(f"trained {kept} iterations (objective {objective}, metric {metric})", flush=True)
    return Trained(booster, kind, threads)


class EachIteration:
    """Hands each iteration's validation metrics and a way to save the booster to Rounds."""

    def __init__(self, rounds: Rounds):
        self.rounds = rounds

    def __call__(self, env) -> None:
        values = {result[1]: float(result[2]) for result in env.evaluation_result_list}
        write = lambda path: env.model.save_model(str(path), num_iteration=-1)  # noqa: E731 (all iterations so far)
        if self.rounds.end(values, CHECKPOINT_SUFFIX, write):
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)  # ends lightgbm.train


def save(estimator: Trained, directory: Path) -> None:
    estimator.booster.save_model(str(directory / ARTIFACT))  # the best iteration's trees when training stopped early


def load(directory: Path, threads: int) -> Trained:
    booster = lightgbm.Booster(model_file=str(directory / ARTIFACT))
    return Trained(booster, CHOICES.kind(booster.params["objective"]), threads)


def predict(estimator: Trained, X: np.ndarray) -> np.ndarray:
    output = _output(estimator, X)
    if estimator.kind == "binary":
        return (output >= 0.5).astype(np.int64)
    if estimator.kind == "multiclass":
        return np.argmax(output, axis=1)
    return output


def predict_proba(estimator: Trained, X: np.ndarray) -> np.ndarray:
    output = _output(estimator, X)
    if estimator.kind == "binary":
        return np.column_stack([1.0 - output, output])
    if estimator.kind == "multiclass":
        return output
    raise ValueError("probabilities exist only for classification models")


def _output(estimator: Trained, X: np.ndarray) -> np.ndarray:
    # NaN features are missing values (LightGBM's use_missing, on by default).
    output = estimator.booster.predict(X, num_threads=estimator.threads, verbosity=-1)
    return np.asarray(output, dtype=np.float64)


def fitted_params(estimator: Trained) -> dict:
    """The booster's parameters as its saved model records them (LightGBM's names for them)."""
    return lightgbm.Booster(model_str=estimator.booster.model_to_string(num_iteration=1)).params


def versions() -> dict[str, str]:
    return {"lightgbm": lightgbm.__version__, "numpy": np.__version__}
