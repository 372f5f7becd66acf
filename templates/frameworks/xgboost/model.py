"""YOUR MODEL: XGBoost gradient-boosted trees. This file is yours to change (see
docs/your-model.md); contract/interface.py declares what the contract calls in it.

The contract reads the data, types the hyperparameters, maps labels to class codes
0..k-1 and back, and runs the HTTP server. This module only fits, saves, loads and
predicts, with XGBoost's native API: `xgboost.train` on a DMatrix, and the booster saved
in XGBoost's own UBJSON model format (`Booster.save_model`), which holds trees and
settings only, so loading it never runs code as a pickle would.

With a validation channel, every boosting round prints one `[round] validation:<metric>=
<value>` line (rounds counted from 1) and training stops early once the metric has not
improved for early_stopping_rounds rounds; the saved model keeps only the rounds up to
the best one, so predictions use the best iteration. When the job has a checkpoint folder
(SageMaker's CheckpointConfig, e.g. for managed spot training), the booster is saved there
every few rounds and at a SIGTERM, and a job that finds one goes on from its round
(contract/checkpoints.py).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost

from contract.boosting import Choices, Rounds
from contract.hyperparameters import HyperparameterError
from contract.interface import Data, Job

FRAMEWORK = "xgboost"
# A table by column name (docs/your-model.md, worked change "churn"): header name -> "number", "category" or
# "text" (unlisted columns are numbers); fit and predict then get a pandas DataFrame. {}: a matrix.
COLUMNS = {}
# The label column: a position (0 the first, -1 the last) or the header's name for it.
LABEL = 0
ARTIFACT = "model.ubj"  # XGBoost's binary JSON model format, chosen by the file name's suffix
CHECKPOINT_SUFFIX = ".ubj"
CHECKPOINTS = True  # fit writes job.checkpoints and goes on from job.checkpoints.resume
# The hyperparameters this module handles itself; every other name in hyperparameters.json goes
# to XGBoost as it is, so a parameter added to the schema reaches the booster with no code, and
# `train` checks that the booster holds it (fitted_params below): a misspelled or dropped name fails.
OWN_HYPERPARAMETERS = ("objective", "eval_metric", "num_round", "early_stopping_rounds", "num_class")
# What the validation channel may print each round: every eval_metric choice. SageMaker's
# MetricDefinitions are built from this tuple, so a name missing here would not be recorded
# (after a change, `make metrics` copies it to iteration_metrics.json, which the lifecycle reads).
ITERATION_METRICS: tuple[str, ...] = (
    "logloss",
    "error",
    "auc",
    "aucpr",
    "mlogloss",
    "merror",
    "rmse",
    "mae",
    "rmsle",
    "poisson-nloglik",
    "gamma-nloglik",
)
# Each objective the schema offers: its task, and the metric eval_metric=auto picks for it.
OBJECTIVES = {
    "binary:logistic": ("classification", "logloss"),
    "multi:softprob": ("classification", "mlogloss"),
    "reg:squarederror": ("regression", "rmse"),
    "reg:absoluteerror": ("regression", "mae"),
    "reg:squaredlogerror": ("regression", "rmsle"),
    "count:poisson": ("regression", "poisson-nloglik"),
    "reg:gamma": ("regression", "gamma-nloglik"),
}
# Which metrics make sense for which kind of objective.
METRICS = {
    "binary": ("logloss", "error", "auc", "aucpr"),
    "multiclass": ("mlogloss", "merror", "auc"),
    "regression": ("rmse", "mae", "rmsle", "poisson-nloglik", "gamma-nloglik"),
}
# Metrics that are a likelihood of one objective's distribution: with another objective
# the predictions may fall outside its support and the metric turns into inf or nan.
METRIC_OBJECTIVE = {"poisson-nloglik": "count:poisson", "gamma-nloglik": "reg:gamma"}
# Labels an objective or metric can take (XGBoost would stop with a less helpful message).
LABEL_DOMAIN = {
    "reg:squaredlogerror": (lambda y: y > -1, "greater than -1"),
    "rmsle": (lambda y: y > -1, "greater than -1"),
    "count:poisson": (lambda y: y >= 0, "0 or more"),
    "reg:gamma": (lambda y: y > 0, "greater than 0"),
}
CHOICES = Choices(
    OBJECTIVES,
    METRICS,
    METRIC_OBJECTIVE,
    LABEL_DOMAIN,
    auto={"regression": "reg:squarederror", "binary": "binary:logistic", "multiclass": "multi:softprob"},
    metric_key="eval_metric",
)


@dataclass
class Trained:
    """A trained booster and the kind of output its objective gives."""

    booster: xgboost.Booster
    kind: str  # binary, multiclass or regression


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
    if params["tree_method"] == "exact" and xgboost.collective.is_distributed():
        raise HyperparameterError(
            "hyperparameter tree_method=exact cannot train across hosts; use hist (or approx), or instance_count=1"
        )
    objective = CHOICES.objective(params, task, n_classes)
    kind = CHOICES.kind(objective)
    eval_metric = CHOICES.metric(params, objective)
    for name in (objective, eval_metric):
        CHOICES.check_labels(name, y, "training")
        if y_valid is not None:
            CHOICES.check_labels(name, y_valid, "validation")
    booster_params = {name: value for name, value in params.items() if name not in OWN_HYPERPARAMETERS}
    booster_params.update(objective=objective, eval_metric=eval_metric, nthread=threads, verbosity=1)  # warnings only
    if kind == "multiclass":
        booster_params["num_class"] = n_classes
    # A table (COLUMNS in this file) with category columns: XGBoost splits on them natively.
    categorical = hasattr(X, "dtypes") and any(str(t) == "category" for t in X.dtypes)
    options = {"missing": np.nan, "nthread": threads, "enable_categorical": categorical}
    dtrain = xgboost.DMatrix(X, label=y, **options)
    evals, patience = [], 0
    if X_valid is not None:
        evals = [(xgboost.DMatrix(X_valid, label=y_valid, **options), "validation")]
        patience = params["early_stopping_rounds"]
    elif params["early_stopping_rounds"] > 0:
        print(f"no validation channel: training all {params['num_round']} rounds, no early stopping", flush=True)
    # Metric lines, early stopping and checkpoints, round by round (contract/boosting.py).
    rounds = Rounds(eval_metric, patience, eval_metric in ("auc", "aucpr"), job.checkpoints)
    start = None
    if rounds.done:  # a checkpoint of an interrupted job: go on from its round
        start = xgboost.Booster(model_file=str(job.checkpoints.resume.file))
    booster = xgboost.train(
        booster_params,
        dtrain,
        num_boost_round=rounds.remaining(params["num_round"]),
        evals=evals,
        verbose_eval=False,  # Rounds prints each round once, in the MetricDefinitions format
        callbacks=[EachRound(rounds)],
        xgb_model=start,
    )
    kept = rounds.kept(booster.num_boosted_rounds())
    if kept < booster.num_boosted_rounds():
        booster = booster[:kept]  # predictions use the best round: the rounds after it are dropped
    if patience:
        rounds.report(kept, params["num_round"], "round")
    else:
        print(f"trained {kept} rounds (objective {objective}, eval_metric {eval_metric})", flush=True)
    return Trained(booster, kind)


class EachRound(xgboost.callback.TrainingCallback):
    """Hands each round's validation metrics and a way to save the booster to Rounds."""

    def __init__(self, rounds: Rounds):
        super().__init__()
        self.rounds = rounds

    def after_iteration(self, model, epoch: int, evals_log: dict) -> bool:
        values = {name: float(v[-1]) for name, v in evals_log.get("validation", {}).items()}
        return self.rounds.end(values, CHECKPOINT_SUFFIX, lambda path: model.save_model(str(path)))


def save(estimator: Trained, directory: Path) -> None:
    estimator.booster.save_model(str(directory / ARTIFACT))


def load(directory: Path, threads: int) -> Trained:
    booster = xgboost.Booster()
    booster.load_model(str(directory / ARTIFACT))
    booster.set_param({"nthread": threads})
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    return Trained(booster, CHOICES.kind(objective))


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
    # inplace_predict reads the float64 matrix directly (no DMatrix copy); NaN means missing.
    return np.asarray(estimator.booster.inplace_predict(X, missing=np.nan))


def fitted_params(estimator: Trained) -> dict:
    """The booster's parameters as XGBoost saved them in its configuration (values as text)."""
    found = {}

    def collect(section: dict) -> None:
        for name, value in section.items():
            if isinstance(value, dict):
                collect(value)
            elif not isinstance(value, list):
                found.setdefault(name, value)

    collect(json.loads(estimator.booster.save_config()))
    return found


def versions() -> dict[str, str]:
    return {"xgboost": xgboost.__version__, "numpy": np.__version__}
