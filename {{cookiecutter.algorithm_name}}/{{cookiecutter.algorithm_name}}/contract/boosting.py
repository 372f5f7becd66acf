"""What XGBoost and LightGBM share: their objectives and metrics as tables, and the checks of a choice.

Rendered only for the boosting frameworks; model.py imports it.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from dataclasses import dataclass
from typing import Any

from contract.hyperparameters import HyperparameterError


@dataclass(frozen=True)
class Choices:
    """A boosting library's objectives and metrics as tables, and the checks of a choice among them.

    objectives: name -> (task, the metric that `auto` picks for it); metrics: kind (binary,
    multiclass, regression) -> the metrics that fit it; metric_objective: metrics that are one
    objective's likelihood; label_domain: objective or metric -> (test of the labels, in words);
    auto: kind -> the objective that `auto` picks; metric_key: the hyperparameter naming the metric.
    """

    objectives: dict[str, tuple[str, str]]
    metrics: dict[str, tuple[str, ...]]
    metric_objective: dict[str, str]
    label_domain: dict[str, tuple[Any, str]]
    auto: dict[str, str]
    metric_key: str

    def kind(self, objective: str) -> str:
        """binary, multiclass or regression: the shape of the objective's output."""
        return next((k for k in ("binary", "multiclass") if self.auto[k] == objective), "regression")

    def objective(self, params: dict, task: str, n_classes: int) -> str:
        objective, binary, multiclass = params["objective"], self.auto["binary"], self.auto["multiclass"]
        if params["num_class"] is not None and params["num_class"] != n_classes:
            raise HyperparameterError(
                f"hyperparameter num_class={params['num_class']}, but the training labels have {n_classes} "
                "classes; remove num_class (it is counted from the labels) or fix the labels"
            )
        if objective == "auto":
            if task == "regression":
                return self.auto["regression"]
            return binary if n_classes == 2 else multiclass
        if self.objectives[objective][0] != task:  # the shared code decided the task from the labels
            raise HyperparameterError(
                f"hyperparameter objective={objective} is for {self.objectives[objective][0]}, but the task is {task}"
            )
        if objective == binary and n_classes != 2:
            raise HyperparameterError(
                f"hyperparameter objective={binary} needs exactly 2 classes, the training labels have "
                f"{n_classes}; use objective={multiclass} (or auto)"
            )
        return objective

    def metric(self, params: dict, objective: str) -> str:
        key, metric, kind = self.metric_key, params[self.metric_key], self.kind(objective)
        if metric == "auto":
            return self.objectives[objective][1]
        if metric not in self.metrics[kind]:
            raise HyperparameterError(
                f"hyperparameter {key}={metric} does not fit objective {objective}; "
                f"use one of {', '.join(self.metrics[kind])} (or auto)"
            )
        if self.metric_objective.get(metric, objective) != objective:
            raise HyperparameterError(
                f"hyperparameter {key}={metric} needs objective={self.metric_objective[metric]}, "
                f"not {objective}; use {' or '.join(self.metrics['regression'][:2])} (or auto)"
            )
        return metric

    def check_labels(self, name: str, y, channel: str) -> None:
        """The labels (a numpy array) fit objective or metric `name`."""
        if name not in self.label_domain:
            return
        allowed, words = self.label_domain[name]
        bad = y[~allowed(y)]
        if len(bad):
            key = "objective" if name in self.objectives else self.metric_key
            raise HyperparameterError(
                f"hyperparameter {key}={name} needs labels {words}, but {channel} has {len(bad)} "
                f"that are not (e.g. {bad[0]:g}); use another {key}"
            )
