"""What the boosting libraries share: their objectives and metrics as tables, the checks of a choice,
and what happens at the end of each boosting round (Rounds).

Rendered only for the boosting frameworks; model.py imports it.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import metrics
from contract.checkpoints import Checkpoints
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


class Rounds:
    """The end of each boosting round, the same for both libraries: the validation metrics printed
    (the lines MetricDefinitions match) and kept, early stopping on the chosen metric, checkpoints.

    Early stopping is done here rather than by the library's callback so that its state (the best
    round so far) goes into each checkpoint and a resumed job stops where an uninterrupted one would.
    metric: the one early stopping watches; patience: rounds without improvement before stopping
    (0: never stop early); maximize: whether a larger value is better.
    """

    def __init__(self, metric: str, patience: int, maximize: bool, checkpoints: Checkpoints | None):
        self.metric, self.patience, self.maximize, self.checkpoints = metric, patience, maximize, checkpoints
        self.history: dict[str, list[float]] = {}  # metric -> its value after rounds 1, 2, ...
        self.best = 0  # the round with the best value of metric so far (0: none yet)
        self.stopped = False  # early stopping has ended training
        resume = checkpoints.resume if checkpoints else None
        self.done = resume.round if resume else 0  # rounds trained so far, by this job and the ones before
        if resume:
            self.history = {name: [float(v) for v in values] for name, values in resume.state["history"].items()}
            self.best, self.stopped = int(resume.state["best"]), bool(resume.state["stopped"])

    def remaining(self, total: int) -> int:
        """Rounds still to train of total (before training starts)."""
        return 0 if self.stopped else max(0, total - self.done)

    def end(self, values: dict[str, float], suffix: str, write: Callable[[Path], None]) -> bool:
        """One more round has been trained: True if training should stop here. Rounds are counted here,
        from 1 and on from a checkpoint's (the libraries count a resumed job's rounds differently)."""
        self.done += 1
        round_ = self.done
        for name, value in values.items():
            self.history.setdefault(name, []).append(value)
            metrics.emit("validation", name, value, round_)
        if self.patience and self.metric in values:
            value, best = values[self.metric], self.history[self.metric][self.best - 1] if self.best else None
            if best is None or (value > best if self.maximize else value < best):
                self.best = round_
            self.stopped = round_ - self.best >= self.patience
        if self.checkpoints and self.checkpoints.due(round_):
            state = {"history": self.history, "best": self.best, "stopped": self.stopped}
            self.checkpoints.save(round_, suffix, write, state)
        return self.stopped

    def kept(self, trained: int) -> int:
        """Rounds the saved model keeps: up to the best one with early stopping, else all."""
        return self.best if self.patience and self.best else trained

    def report(self, kept: int, total: int, unit: str) -> None:
        """After training: how many rounds are kept, and each metric's value at the kept round printed
        again, last, because a tuning job ranks a model by each metric's last value in the log."""
        if not (self.patience and self.history):
            return
        print(
            f"early stopping: kept {kept} of {total} {unit}s "
            f"(best validation {self.metric} {self.history[self.metric][kept - 1]:.6g} at {unit} {kept})",
            flush=True,
        )
        for name, values in self.history.items():
            metrics.emit("validation", name, values[kept - 1], kept)
