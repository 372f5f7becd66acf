"""What the lifecycle takes from this project: names, sample data, the program's metric
regexes, its table of hosting modes, its hyperparameter schema and the sample hyperparameters
(one source of truth for each), and how it reports."""

import functools
import importlib
import json
import re
import sys
from datetime import datetime
from pathlib import Path

ALGORITHM = "decision_trees"
REGION = "us-east-1"
TRAINING_INSTANCE_TYPE = "ml.m5.large"
HOSTING_INSTANCE_TYPE = "ml.m5.large"

PROJECT = Path(__file__).resolve().parents[1]
PROGRAM = PROJECT / ALGORITHM
TEST_DIR = PROJECT / "local_test" / "test_dir"
CHANNELS = ("training", "validation")
PAYLOAD = PROJECT / "local_test" / "payload.csv"
CSV = "text/csv"

NAME_MAX = 63  # SageMaker job, model and endpoint names: [a-zA-Z0-9](-*[a-zA-Z0-9])*, at most 63
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ECR_IMAGE = re.compile(r"\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[^:@\s]+([:@]\S+)?")


class StepFailed(RuntimeError):
    """A step did not succeed; the message says which and why."""


def say(message: str) -> None:
    print(message, flush=True)


def step(message: str) -> None:
    say(f"\n==> {message}")


# ---------------------------------------------------------------------------------------
# One source of truth: metric regexes from metrics.py, sample hyperparameters from local_test.


def _load_program_module(name: str):
    """A module of the project's contract package (not model.py, nor the framework it imports)."""
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    return importlib.import_module(f"contract.{name}")


def iteration_metrics() -> tuple[str, ...]:
    """model.py's ITERATION_METRICS, from iteration_metrics.json beside it (`make metrics` writes it from
    model.py as `train` reads it; a test of `make test` says when it is stale): the lifecycle runs where
    the model's packages may not be installed, so it does not import model.py."""
    return tuple(json.loads((PROGRAM / "iteration_metrics.json").read_text(encoding="utf-8")))


def metric_definitions() -> list[dict[str, str]]:
    """MetricDefinitions for both tasks: the task follows from the data, and a metric the log
    never prints is simply not recorded."""
    metrics = _load_program_module("metrics")
    found: dict[str, dict[str, str]] = {}
    for task in ("classification", "regression"):
        for definition in metrics.definitions(task, iteration_metrics()):
            found.setdefault(definition["Name"], definition)
    return list(found.values())


@functools.cache
def hyperparameters():
    """The program's contract/hyperparameters.py: load_schema() (hyperparameters.json) and convert()."""
    return _load_program_module("hyperparameters")


@functools.cache
def hosting():
    """The program's contract/hosting.py: MODES, each mode's limits and container Environment."""
    return _load_program_module("hosting")


def sample_hyperparameters() -> dict[str, str]:
    """local_test's hyperparameters.json, as the strings SageMaker passes to the container."""
    values = json.loads((TEST_DIR / "input" / "config" / "hyperparameters.json").read_text(encoding="utf-8"))
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def derived_name(name: str, suffix: str) -> str:
    """<name>-<suffix>, cut to fit SageMaker's 63 characters (for the parts a run adds to its name)."""
    return f"{name[: NAME_MAX - len(suffix) - 1].rstrip('-')}-{suffix}"


def resource_name(base: str, when: datetime) -> str:
    """<algorithm>-<UTC time>: '_' is not allowed in SageMaker names."""
    stamp = when.strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[: NAME_MAX - len(stamp) - 1].rstrip("-")
    return f"{stem}-{stamp}"
