"""Hyperparameter tuning: ranges typed by the program's hyperparameter schema, the objective one of
the MetricDefinitions the training step sends, and two ways to run it: a tuning job on SageMaker
(CreateHyperParameterTuningJob), and a local tuning run (--local: SDK local-mode training jobs one
after another, each ranked by the final value its log gives the objective's regex, as SageMaker ranks)."""

import contextlib
import hashlib
import io
import itertools
import json
import math
import random
import re
import sys
import time
from dataclasses import dataclass

from lifecycle.backends import Backend
from lifecycle.project import (
    StepFailed,
    derived_name,
    hyperparameters,
    metric_definitions,
    say,
    step,
)
from lifecycle.resources import Resources, wait_for

STRATEGIES = ("Bayesian", "Random", "Grid")
LOCAL_STRATEGIES = ("Random", "Grid")  # Bayesian search is SageMaker's own service
SCALINGS = {"auto": "Auto", "linear": "Linear", "log": "Logarithmic", "reverse-log": "ReverseLogarithmic"}
DEFAULT_OBJECTIVE = "validation:accuracy"
MAXIMIZED = {"accuracy", "r2", "auc", "aucpr", "average_precision"}  # every other metric is a loss or an error
DEFAULT_MAX_JOBS = 10
DEFAULT_PARALLEL_JOBS = 2
RANGES_PER_KIND = 30  # SageMaker's limits: 30 ranges of each kind, 30 values per categorical range
TUNING_NAME_MAX = 32  # SageMaker adds -NNN-xxxxxxxx for each training job's name


@dataclass(frozen=True)
class Range:
    """One hyperparameter's search range, as ParameterRanges holds it (values are strings there)."""

    name: str
    kind: str  # Integer, Continuous or Categorical
    low: str = ""
    high: str = ""
    scaling: str = "Auto"
    values: tuple[str, ...] = ()

    def request(self) -> dict:
        if self.kind == "Categorical":
            return {"Name": self.name, "Values": list(self.values)}
        return {"Name": self.name, "MinValue": self.low, "MaxValue": self.high, "ScalingType": self.scaling}

    def describe(self) -> str:
        if self.kind == "Categorical":
            return f"{self.name} one of {', '.join(self.values)}"
        return f"{self.name} {self.kind.lower()} {self.low} to {self.high} ({self.scaling})"

    def draw(self, rng: random.Random) -> str:
        """A random pick, as the Random strategy picks: uniform on the range's scale."""
        if self.kind == "Categorical":
            return rng.choice(self.values)
        low, high = float(self.low), float(self.high)
        if self.scaling == "Logarithmic":
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        elif self.scaling == "ReverseLogarithmic":
            value = 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
        else:
            value = rng.uniform(low, high)
        if self.kind == "Integer":
            return str(min(max(round(value), int(low)), int(high)))
        return f"{value:.6g}"


def parse_range(name: str, text: str, spec: dict) -> Range:
    """NAME's range from LOW:HIGH[:SCALING] (int and float hyperparameters) or V1,V2,... (any type),
    each value checked against the schema (type, min and max, choices) as `train` would check it."""
    convert = hyperparameters().convert
    text = text.strip()
    if ":" not in text:
        values = tuple(v.strip() for v in text.split(","))
        if not all(values):
            raise ValueError(f"{name}: an empty value in {text!r}")
        if len(set(values)) != len(values) or len(values) > RANGES_PER_KIND:
            raise ValueError(f"{name}: give 1 to {RANGES_PER_KIND} distinct values, not {text!r}")
        for value in values:
            _checked(name, value, spec, convert)
        return Range(name, "Categorical", values=values)
    if spec["type"] not in ("int", "float"):
        raise ValueError(f"{name} is a {spec['type']}: give its values, as {name}=a,b,c")
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"{name}: expected LOW:HIGH or LOW:HIGH:SCALING, not {text!r}")
    low, high = (part.strip() for part in parts[:2])
    scaling_word = parts[2].strip() if len(parts) == 3 else "auto"
    if scaling_word not in SCALINGS:
        raise ValueError(f"{name}: scaling {scaling_word!r} is not one of {', '.join(SCALINGS)}")
    low_value, high_value = _checked(name, low, spec, convert), _checked(name, high, spec, convert)
    if low_value is None or high_value is None or not low_value < high_value:
        raise ValueError(f"{name}: LOW must be a number below HIGH, not {low}:{high}")
    scaling = SCALINGS[scaling_word]
    if scaling == "Logarithmic" and low_value <= 0:
        raise ValueError(f"{name}: a log scale needs LOW > 0")
    if scaling == "ReverseLogarithmic" and (spec["type"] != "float" or low_value < 0 or high_value >= 1):
        raise ValueError(f"{name}: a reverse-log scale needs a float range within 0 <= LOW < HIGH < 1")
    kind = "Integer" if spec["type"] == "int" else "Continuous"
    return Range(name, kind, low=low, high=high, scaling=scaling)


def _checked(name: str, value: str, spec: dict, convert):
    try:
        return convert(value, spec)
    except ValueError as exc:
        raise ValueError(f"{name}={value}: {exc}") from None


def parse_ranges(arguments: list[str]) -> tuple[Range, ...]:
    """--tune-range NAME=SPEC (or NAME alone: its "tune" range in the schema); none given: every
    hyperparameter the schema gives a "tune" range."""
    schema = hyperparameters().load_schema()
    chosen: dict[str, str] = {}
    for argument in arguments:
        name, has_spec, text = argument.partition("=")
        name = name.strip()
        if name not in schema:
            raise ValueError(f"--tune-range {argument}: no hyperparameter {name!r}; there are {', '.join(schema)}")
        if name in chosen:
            raise ValueError(f"--tune-range {name} is given twice")
        if not has_spec:
            if "tune" not in schema[name]:
                raise ValueError(f"--tune-range {name}: hyperparameters.json gives it no tune range; pass {name}=...")
            text = schema[name]["tune"]
        chosen[name] = text
    if not arguments:
        chosen = {name: spec["tune"] for name, spec in schema.items() if "tune" in spec}
    if not chosen:
        raise ValueError(
            "nothing to tune: pass --tune-range NAME=LOW:HIGH or NAME=a,b,"
            ' or give hyperparameters "tune" ranges in hyperparameters.json'
        )
    found = tuple(parse_range(name, text, schema[name]) for name, text in chosen.items())
    for kind in ("Integer", "Continuous", "Categorical"):
        if sum(r.kind == kind for r in found) > RANGES_PER_KIND:
            raise ValueError(f"at most {RANGES_PER_KIND} {kind.lower()} ranges")
    return found


@dataclass(frozen=True)
class Tuning:
    ranges: tuple[Range, ...]
    objective: str = DEFAULT_OBJECTIVE
    objective_type: str | None = None  # Maximize or Minimize; None: from the metric
    strategy: str | None = None  # None: Bayesian on SageMaker, Random in a local tuning run
    max_jobs: int | None = None
    parallel_jobs: int = DEFAULT_PARALLEL_JOBS
    early_stopping: str = "Off"
    seed: int | None = None

    @property
    def direction(self) -> str:
        if self.objective_type:
            return self.objective_type
        return "Maximize" if self.objective.split(":", 1)[1] in MAXIMIZED else "Minimize"

    def chosen_strategy(self, local: bool) -> str:
        return self.strategy or ("Random" if local else "Bayesian")

    def jobs(self) -> int:
        if self.strategy == "Grid":
            return math.prod(len(r.values) for r in self.ranges)
        return self.max_jobs or DEFAULT_MAX_JOBS

    def problems(self, local: bool) -> list[str]:
        found = []
        names = [d["Name"] for d in metric_definitions()]
        if self.objective not in names:
            found.append(f"--objective {self.objective} is not a metric the program prints: one of {', '.join(names)}")
        elif not self.objective.startswith("validation:"):
            found.append(f"--objective {self.objective}: rank on a validation metric, not on the training data")
        strategy = self.chosen_strategy(local)
        if local and strategy not in LOCAL_STRATEGIES:
            found.append(
                f"--strategy {strategy} needs SageMaker: a local tuning run takes {' or '.join(LOCAL_STRATEGIES)}"
            )
        if strategy == "Grid":
            continuous = [r.name for r in self.ranges if r.kind != "Categorical"]
            if continuous:
                found.append(
                    f"--strategy Grid takes lists of values only (NAME=a,b,c): {', '.join(continuous)} given as ranges"
                )
            if self.max_jobs is not None:
                found.append("--strategy Grid runs every combination of the values: drop --max-jobs")
        if self.max_jobs is not None and self.max_jobs < 1:
            found.append("--max-jobs must be at least 1")
        if self.parallel_jobs < 1:
            found.append("--parallel-jobs must be at least 1")
        elif strategy != "Grid" and self.parallel_jobs > self.jobs():
            found.append(f"--parallel-jobs ({self.parallel_jobs}) must not exceed --max-jobs ({self.jobs()})")
        if local and self.early_stopping != "Off":
            found.append("--early-stopping Auto needs SageMaker: it stops training jobs by their peers' curves")
        return found


def tuning_name(name: str) -> str:
    """The tuning job's name: the run's if it fits SageMaker's 32 characters, else its head and a hash."""
    if len(name) <= TUNING_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: TUNING_NAME_MAX - 9].rstrip('-')}-{digest}"


def tuning_request(name: str, training: dict, tuning: Tuning) -> dict:
    """CreateHyperParameterTuningJob's arguments: the training step's own request (image, MetricDefinitions,
    channels, instances, stopping and spot) as the TrainingJobDefinition, the tuned names left out of its
    static hyperparameters."""
    tuned = {r.name for r in tuning.ranges}
    definition = {key: training[key] for key in TRAINING_DEFINITION_KEYS if key in training}
    definition["StaticHyperParameters"] = {k: v for k, v in training["HyperParameters"].items() if k not in tuned}
    limits = {"MaxParallelTrainingJobs": tuning.parallel_jobs}
    if tuning.chosen_strategy(local=False) != "Grid":  # Grid runs every combination
        limits["MaxNumberOfTrainingJobs"] = tuning.jobs()
    ranges = {
        f"{kind}ParameterRanges": [r.request() for r in tuning.ranges if r.kind == kind]
        for kind in ("Integer", "Continuous", "Categorical")
    }
    config = {
        "Strategy": tuning.chosen_strategy(local=False),
        "HyperParameterTuningJobObjective": {"Type": tuning.direction, "MetricName": tuning.objective},
        "ResourceLimits": limits,
        "ParameterRanges": ranges,
        "TrainingJobEarlyStoppingType": tuning.early_stopping,
    }
    if tuning.seed is not None:
        config["RandomSeed"] = tuning.seed
    return {
        "HyperParameterTuningJobName": tuning_name(name),
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
    }


TRAINING_DEFINITION_KEYS = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Environment",
)


def announce(tuning: Tuning, local: bool) -> None:
    say(f"    objective {tuning.objective} ({tuning.direction}), strategy {tuning.chosen_strategy(local)}")
    for r in tuning.ranges:
        say(f"    {r.describe()}")


def tune(backend: Backend, name: str, training: dict, tuning: Tuning, resources: Resources) -> str:
    """A tuning job on SageMaker: waits for it, reports its best training job, returns that job's model."""
    request = tuning_request(name, training, tuning)
    job_name = request["HyperParameterTuningJobName"]
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    step(f"tuning job {job_name}: {tuning.jobs()} training jobs, {limits['MaxParallelTrainingJobs']} at a time")
    announce(tuning, local=False)
    resources.running_jobs.append(("tuning", job_name))
    backend.sagemaker.create_hyper_parameter_tuning_job(**request)
    job = wait_for(
        f"tuning job {job_name}",
        lambda: backend.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job_name),
        "HyperParameterTuningJobStatus",
        backend.poll_seconds,
        progress=counts,
    )
    resources.running_jobs.remove(("tuning", job_name))
    say(f"    training jobs: {counts(job)}")
    best = job.get("BestTrainingJob")
    if not best:
        raise StepFailed(f"tuning job {job_name} completed without a best training job ({counts(job)})")
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
    say(f"best training job {best['TrainingJobName']}: {metric.get('MetricName')} = {metric.get('Value')}")
    say(f"    hyperparameters {json.dumps(best.get('TunedHyperParameters', {}))}")
    described = backend.sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    say(f"    model artifact {artifact}")
    return artifact


def counts(description: dict) -> str:
    """A tuning job's training jobs by status, e.g. 'Completed 3, InProgress 2'."""
    counters = description.get("TrainingJobStatusCounters", {})
    return ", ".join(f"{status} {n}" for status, n in counters.items() if n) or "no training job yet"


def candidates(tuning: Tuning) -> list[dict[str, str]]:
    """The hyperparameter sets of a local tuning run: every combination (Grid), or random picks."""
    if tuning.chosen_strategy(local=True) == "Grid":
        names = [r.name for r in tuning.ranges]
        return [
            dict(zip(names, values, strict=True)) for values in itertools.product(*(r.values for r in tuning.ranges))
        ]
    rng = random.Random(tuning.seed)
    return [{r.name: r.draw(rng) for r in tuning.ranges} for _ in range(tuning.jobs())]


def final_values(log: str, definitions: list[dict[str, str]]) -> dict[str, float]:
    """Each metric's last value in a training log: what SageMaker records as final and a tuning job ranks by."""
    found = {}
    for definition in definitions:
        values = re.findall(definition["Regex"], log)
        if values:
            found[definition["Name"]] = float(values[-1])
    return found


class _Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy: local mode streams the container's log to sys.stdout."""

    def __init__(self, terminal):
        self.terminal, self.copy = terminal, io.StringIO()

    def write(self, text: str) -> int:
        self.terminal.write(text)
        return self.copy.write(text)

    def flush(self) -> None:
        self.terminal.flush()


@dataclass
class LocalJob:
    name: str
    hyperparameters: dict[str, str]
    seconds: float
    objective: float | None = None
    artifact: str | None = None
    failure: str | None = None


def tune_local(name: str, tuning: Tuning, train_job) -> str:
    """A local tuning run: train_job(job name, hyperparameters) trains one local-mode job and returns
    its artifact and request; each is ranked by its log's final objective. Returns the best one's model."""
    sets = candidates(tuning)
    strategy = tuning.chosen_strategy(local=True)
    step(f"local tuning run {name}: {len(sets)} training jobs ({strategy}), one at a time")
    announce(tuning, local=True)
    jobs = []
    for number, values in enumerate(sets, 1):
        job = LocalJob(derived_name(name, f"t{number:03d}"), values, 0.0)
        tee = _Tee(sys.stdout)
        start = time.monotonic()
        try:
            with contextlib.redirect_stdout(tee):
                job.artifact, request = train_job(job.name, values)
        except StepFailed as exc:  # as on SageMaker, one failed job does not end the tuning
            job.failure = str(exc)
        job.seconds = time.monotonic() - start
        if job.failure is None:
            definitions = request["AlgorithmSpecification"]["MetricDefinitions"]  # the very regexes sent
            found = final_values(tee.copy.getvalue(), definitions)
            job.objective = found.get(tuning.objective)
            if job.objective is None:
                printed = ", ".join(found) or "no metric"
                job.failure = f"its log gives no {tuning.objective} (it printed {printed}): pick one with --objective"
        jobs.append(job)
    report(jobs, tuning)
    ranked = [j for j in jobs if j.objective is not None]
    if not ranked:
        raise StepFailed(f"local tuning run {name}: no training job gave {tuning.objective}")
    pick = max if tuning.direction == "Maximize" else min
    best = pick(ranked, key=lambda j: j.objective)  # the first of equals, in the order they ran
    say(f"best training job {best.name}: {tuning.objective} = {best.objective:.6g}")
    say(f"    hyperparameters {json.dumps(best.hyperparameters)}")
    say(f"    model artifact {best.artifact}")
    return best.artifact


def report(jobs: list[LocalJob], tuning: Tuning) -> None:
    header = ["job", *(r.name for r in tuning.ranges), tuning.objective, "seconds"]
    rows = [
        [
            j.name,
            *(j.hyperparameters[r.name] for r in tuning.ranges),
            "failed" if j.objective is None else f"{j.objective:.6g}",
            f"{j.seconds:.1f}",
        ]
        for j in jobs
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    say("\n".join([f"\ntuning results ({tuning.direction} {tuning.objective}):"] + [f"    {line}" for line in lines]))
    for j in jobs:
        if j.failure:
            say(f"{j.name} failed: {j.failure}")
