"""XGBoost gradient-boosted trees: what this framework adds to the shared container code.

The shared code reads the data, types the hyperparameters, maps labels to class codes
0..k-1 and back, and runs the HTTP server. This module only fits, saves, loads and
predicts, with XGBoost's native API: `xgboost.train` on a DMatrix, and the booster saved
in XGBoost's own UBJSON model format (`Booster.save_model`), which holds trees and
settings only, so loading it never runs code as a pickle would.

With a validation channel, every boosting round prints one `[round] validation:<metric>=
<value>` line (rounds counted from 1) and training stops early once the metric has not
improved for early_stopping_rounds rounds; the saved model keeps only the rounds up to
the best one, so predictions use the best iteration.
"""

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost
from xgboost.tracker import RabitTracker

import metrics
from cluster import PEER_TIMEOUT
from hyperparameters import Choices, HyperparameterError

FRAMEWORK = "xgboost"
ARTIFACT = "model.ubj"  # XGBoost's binary JSON model format, chosen by the file name's suffix
# What the validation channel may print each round: every eval_metric choice. SageMaker's
# MetricDefinitions are built from this tuple, so a name missing here would not be recorded.
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


# Multi-host training: XGBoost's own collective (rabit). The first host runs the tracker on
# this port; every host joins with its share of the data and all build the same trees.
TRACKER_PORT = 9099


@contextlib.contextmanager
def join(cluster):
    """The context in which this host trains one model together with the job's other hosts."""
    leader_address = _resolve(cluster.hosts[0])
    tracker = None
    print(f"{cluster.current}: joining {cluster.world} hosts (tracker {cluster.hosts[0]}:{TRACKER_PORT})", flush=True)
    try:
        if cluster.leader:
            tracker = RabitTracker(
                n_workers=cluster.world, host_ip=leader_address, port=TRACKER_PORT, sortby="task", timeout=PEER_TIMEOUT
            )
            tracker.start()
        with xgboost.collective.CommunicatorContext(
            dmlc_communicator="rabit",
            dmlc_tracker_uri=leader_address,
            dmlc_tracker_port=TRACKER_PORT,
            dmlc_task_id=str(cluster.rank),
            dmlc_timeout=PEER_TIMEOUT,
        ):
            rank, world = xgboost.collective.get_rank(), xgboost.collective.get_world_size()
            print(f"{cluster.current}: joined as rank {rank} of {world}", flush=True)
            yield Group(rank, world)
        if tracker is not None:
            tracker.wait_for(PEER_TIMEOUT)
    except xgboost.core.XGBoostError as exc:
        raise RuntimeError(
            f"hosts {', '.join(cluster.hosts)} could not train together ({_reason(exc)}); check that every "
            f"host started within PEER_TIMEOUT_SECONDS={PEER_TIMEOUT} and can reach {cluster.hosts[0]}:{TRACKER_PORT}"
        ) from exc
    finally:
        if tracker is not None:
            with contextlib.suppress(xgboost.core.XGBoostError):  # already reported above
                tracker.free()


def _reason(exc: Exception) -> str:
    """The telling line of an XGBoost network error (they come with a C++ stack trace)."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip() and "[bt]" not in line]
    telling = [line for line in lines if any(w in line.lower() for w in ("error", "fail", "timeout", "refused"))]
    return (telling or lines or ["unknown error"])[-1][:300]


@dataclass
class Group:
    """The hosts training together: what the shared code asks of them (see cluster.SingleHost)."""

    rank: int
    world: int

    def union(self, values: list[str]) -> list[str]:
        together = set()
        for root in range(self.world):
            together |= set(xgboost.collective.broadcast(list(values) if root == self.rank else None, root))
        return sorted(together)

    def every(self, flag: bool) -> bool:
        votes = np.array([1 if flag else 0], dtype=np.int32)
        return bool(xgboost.collective.allreduce(votes, xgboost.collective.Op.MIN)[0])


def _resolve(host: str) -> str:
    """The host's address, retrying while the job's other hosts are still coming up."""
    deadline = time.monotonic() + PEER_TIMEOUT
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"host {host} did not appear within {PEER_TIMEOUT} s ({exc}); a multi-host job needs every host"
                ) from exc
            time.sleep(1)


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


def fit(params, *, task, n_classes, X, y, X_valid, y_valid, threads):
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
    booster_params = {
        "objective": objective,
        "eval_metric": eval_metric,
        "eta": params["eta"],
        "max_depth": params["max_depth"],
        "min_child_weight": params["min_child_weight"],
        "subsample": params["subsample"],
        "colsample_bytree": params["colsample_bytree"],
        "lambda": params["lambda"],
        "alpha": params["alpha"],
        "gamma": params["gamma"],
        "tree_method": params["tree_method"],
        "max_bin": params["max_bin"],
        "seed": params["seed"],
        "nthread": threads,
        "verbosity": 1,  # warnings only
    }
    if kind == "multiclass":
        booster_params["num_class"] = n_classes
    dtrain = xgboost.DMatrix(X, label=y, missing=np.nan, nthread=threads)
    evals, callbacks = [], []
    if X_valid is not None:
        dvalid = xgboost.DMatrix(X_valid, label=y_valid, missing=np.nan, nthread=threads)
        evals = [(dvalid, "validation")]
        callbacks.append(PrintMetrics())
        if params["early_stopping_rounds"] > 0:
            callbacks.append(
                xgboost.callback.EarlyStopping(
                    rounds=params["early_stopping_rounds"],
                    metric_name=eval_metric,
                    data_name="validation",
                    maximize=eval_metric in ("auc", "aucpr"),
                    save_best=True,  # drop the rounds after the best one: predictions use the best iteration
                )
            )
    elif params["early_stopping_rounds"] > 0:
        print(f"no validation channel: training all {params['num_round']} rounds, no early stopping", flush=True)
    booster = xgboost.train(
        booster_params,
        dtrain,
        num_boost_round=params["num_round"],
        evals=evals,
        verbose_eval=False,  # PrintMetrics prints each round once, in the MetricDefinitions format
        callbacks=callbacks,
    )
    rounds = booster.num_boosted_rounds()
    if X_valid is not None and params["early_stopping_rounds"] > 0:
        print(
            f"early stopping: kept {rounds} of {params['num_round']} rounds "
            f"(best validation {eval_metric} {float(booster.best_score):.6g} at round {rounds})",
            flush=True,
        )
    else:
        print(f"trained {rounds} rounds (objective {objective}, eval_metric {eval_metric})", flush=True)
    return Trained(booster, kind)


class PrintMetrics(xgboost.callback.TrainingCallback):
    """One `[round] validation:<metric>=<value>` line per boosting round, rounds counted from 1."""

    def after_iteration(self, model, epoch: int, evals_log: dict) -> bool:
        for name, values in evals_log.get("validation", {}).items():
            metrics.emit("validation", name, float(values[-1]), epoch + 1)
        return False  # never asks to stop; EarlyStopping does that


def save(estimator: Trained, path: Path) -> None:
    estimator.booster.save_model(str(path))


def load(path: Path, threads: int) -> Trained:
    booster = xgboost.Booster()
    booster.load_model(str(path))
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


def versions() -> dict[str, str]:
    return {"xgboost": xgboost.__version__, "numpy": np.__version__}
