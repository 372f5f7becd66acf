"""The tune step and managed spot training of sagemaker_lifecycle.py.

- On SageMaker: the CreateHyperParameterTuningJob and CreateTrainingJob requests, validated by botocore
  and stored by a moto server (tests/test_hosting_modes.py's recording session). moto 5.2.5 completes a
  tuning job at once and names the same best training job for every one, FakeTrainingJobName: the test
  creates that job, as the tuning job would have, so the script deploys its model.
- Locally: a real local tuning run in the container (SDK local mode), each job's objective read from its
  log by the MetricDefinitions regexes, checked against the saved model's own score on the validation channel.
"""

import json
import math
import os
import random
import re
import subprocess
import sys
import tarfile
import uuid

import numpy as np
import pytest
import test_hosting_modes as modes
from aws_fakes import aws_env, client
from conftest import COLUMNS, FEATURE_TYPE, LABEL, PROJECT, TABLE, TEST_DIR, docker, free_port, load_model, numbers_only
from test_hosting_modes import BUCKET, IMAGE, ROLE, artifact_key, check_nothing_left, model_tar
from test_lifecycle import SCRIPT, printed_section
from test_train import check_final_values_are_the_saved_models, write_noisy_channels

from contract import dataset

pytestmark = pytest.mark.deep  # the lifecycle script's tuning and spot options (make test-all)

# test_hosting_modes.py's fixtures: the script as a module, and the moto server that records its requests.
lifecycle, moto, moto_server_of_module = modes.lifecycle, modes.moto, modes.moto_server_of_module
BEST = "FakeTrainingJobName"  # moto's best training job of every tuning job


def schema():
    from lifecycle.project import hyperparameters

    return hyperparameters().load_schema()


def tuned_by_schema() -> dict[str, str]:
    return {name: spec["tune"] for name, spec in schema().items() if "tune" in spec}


def tunable() -> dict[str, str]:
    """What these tests tune: the schema's "tune" ranges, then ranges over the bounds and choices it
    declares (a schema needs no "tune" entry: tuning is optional); LOW:HIGH ranges before lists."""
    found = dict(tuned_by_schema())
    for name, spec in schema().items():
        if name in found:
            continue
        if spec["type"] in ("int", "float") and "min" in spec and "max" in spec:
            found[name] = f"{spec['min']}:{spec['max']}"
        elif len(spec.get("choices", [])) > 1:
            found[name] = ",".join(str(choice) for choice in spec["choices"][:2])
    assert found, "hyperparameters.json gives no hyperparameter bounds or choices: nothing to tune"
    return dict(sorted(found.items(), key=lambda item: ":" not in item[1]))


def tune_arguments(count: int = 2) -> list[str]:
    """--tune-range NAME=RANGE for the first `count` of tunable()."""
    return [arg for name, text in list(tunable().items())[:count] for arg in ("--tune-range", f"{name}={text}")]


def test_the_schemas_tune_ranges_are_typed_by_it(lifecycle):
    """Every "tune" range in hyperparameters.json parses, within the hyperparameter's own bounds."""
    from lifecycle.tuning import parse_ranges

    if not tuned_by_schema():
        with pytest.raises(ValueError, match="nothing to tune: pass --tune-range"):
            parse_ranges([])
        return
    ranges = parse_ranges([])
    assert [r.name for r in ranges] == list(tuned_by_schema())
    kinds = {"int": "Integer", "float": "Continuous"}
    for r in ranges:
        spec = schema()[r.name]
        assert r.kind == kinds.get(spec["type"], "Categorical"), r
        if r.kind != "Categorical":
            assert spec.get("min", -math.inf) <= float(r.low) < float(r.high) <= spec.get("max", math.inf)


def test_ranges_from_the_command_line(lifecycle):
    from lifecycle.tuning import parse_range

    spec = {"type": "float", "default": 0.1, "min": 0.0001, "max": 1.0, "help": ""}
    assert parse_range("eta", "0.01:0.3:log", spec).request() == {
        "Name": "eta",
        "MinValue": "0.01",
        "MaxValue": "0.3",
        "ScalingType": "Logarithmic",
    }
    integer = {"type": "int", "default": 3, "min": 1, "max": 64, "help": ""}
    assert parse_range("depth", "2:8", integer).kind == "Integer"
    assert parse_range("depth", "2,4,8", integer).request() == {"Name": "depth", "Values": ["2", "4", "8"]}
    nullable = {**integer, "nullable": True, "default": None}
    assert parse_range("depth", "none,4", nullable).values == ("none", "4")
    choice = {"type": "str", "default": "a", "choices": ["a", "b"], "help": ""}
    for text, message in [
        ("0.5:0.1", "LOW must be a number below HIGH"),
        ("0:0.5:log", "expected a value from 0.0001 to 1.0"),
        ("0.1:0.5:cubic", "scaling 'cubic' is not one of"),
        ("0.1:0.5:reverse-log:x", "expected LOW:HIGH"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_range("eta", text, spec)
    with pytest.raises(ValueError, match="depth=2.5: expected an integer"):
        parse_range("depth", "2.5:8", integer)
    with pytest.raises(ValueError, match="mode is a str: give its values"):
        parse_range("mode", "a:b", choice)
    with pytest.raises(ValueError, match="mode=c: expected one of a, b"):
        parse_range("mode", "a,c", choice)
    with pytest.raises(ValueError, match="reverse-log scale needs a float range"):
        parse_range("depth", "2:8:reverse-log", integer)


def test_local_candidates_grid_and_random(lifecycle):
    from lifecycle.tuning import Range, Tuning, candidates

    values = (Range("a", "Categorical", values=("1", "2")), Range("b", "Categorical", values=("x", "y", "z")))
    grid = Tuning(ranges=values, strategy="Grid")
    assert grid.jobs() == 6
    assert candidates(grid) == [{"a": a, "b": b} for a in "12" for b in "xyz"]

    ranges = (Range("rate", "Continuous", "0.001", "0.5", "Logarithmic"), Range("depth", "Integer", "2", "9"))
    picks = candidates(Tuning(ranges=ranges, max_jobs=200, seed=3))
    assert picks == candidates(Tuning(ranges=ranges, max_jobs=200, seed=3))  # the seed makes a run repeatable
    rates = [float(p["rate"]) for p in picks]
    assert all(0.001 <= r <= 0.5 for r in rates)
    assert sum(r < 0.0224 for r in rates) > 50  # log scale: about half below the geometric middle
    assert {int(p["depth"]) for p in picks} == set(range(2, 10))
    reverse = Range("keep", "Continuous", "0.9", "0.999", "ReverseLogarithmic").draw(random.Random(1))
    assert 0.9 <= float(reverse) <= 0.999


def test_final_values_are_the_last_match_of_each_regex(lifecycle):
    from lifecycle.project import metric_definitions
    from lifecycle.tuning import final_values

    log = "[1] validation:accuracy=0.5\n[2] validation:accuracy=0.75\ntrain:accuracy=1\nvalidation:accuracy=0.7\n"
    found = final_values(log, metric_definitions())
    assert found["validation:accuracy"] == 0.7 and found["train:accuracy"] == 1.0
    assert "validation:rmse" not in found


def best_job_in_place(moto):
    """What the tuning job would have trained: moto's best training job, with its model in S3."""
    sagemaker = client("sagemaker", moto.url)
    sagemaker.create_training_job(
        TrainingJobName=BEST,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": moto.uri("model")},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    client("s3", moto.url).put_object(Bucket=BUCKET, Key=moto.key(artifact_key(BEST)), Body=model_tar())
    return sagemaker


def test_tuning_job_on_sagemaker_against_moto(moto, lifecycle, capsys):
    """The tuning job's request, its best training job's model deployed, spot in its TrainingJobDefinition."""
    from lifecycle.project import metric_definitions, sample_hyperparameters

    sagemaker = best_job_in_place(moto)
    ranges = tunable()
    first, second = list(ranges)[:2]
    # A range the schema declares is named alone (--tune-range NAME takes the schema's); another is given whole.
    by_name = first if first in tuned_by_schema() else f"{first}={ranges[first]}"
    moto.queue("endpoint-results", [{"Body": "setosa", "ContentType": "text/csv"}])
    status, out, err = moto.run(
        lifecycle, capsys,
        "--tune", "--tune-range", by_name, "--tune-range", f"{second}={ranges[second]}",
        "--objective", "validation:accuracy", "--max-jobs", "6", "--parallel-jobs", "3",
        "--early-stopping", "Auto", "--tune-seed", "7",
        "--spot", "--max-runtime", "1800", "--max-wait", "7200",
    )  # fmt: skip
    assert status == 0, out + err
    assert "training jobs: Completed 1" in out and f"best training job {BEST}: " in out
    assert printed_section(out, "predictions:") == ["setosa"]
    assert "CreateTrainingJob" not in moto.sent
    request = moto.one("CreateHyperParameterTuningJob")
    assert request["HyperParameterTuningJobName"] == moto.name  # short enough to be the tuning job's name
    config = request["HyperParameterTuningJobConfig"]
    expected_ranges = {r.name: r.request() for r in lifecycle.parse_ranges([by_name, f"{second}={ranges[second]}"])}
    sent_ranges = [r for kind in config["ParameterRanges"].values() for r in kind]
    assert {r["Name"]: r for r in sent_ranges} == expected_ranges
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:accuracy"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}
    assert config["TrainingJobEarlyStoppingType"] == "Auto" and config["RandomSeed"] == 7

    definition = request["TrainingJobDefinition"]
    definitions = definition["AlgorithmSpecification"]["MetricDefinitions"]
    assert definitions == metric_definitions()  # the training step's own regexes, one source
    assert config["HyperParameterTuningJobObjective"]["MetricName"] in {d["Name"] for d in definitions}
    static = {k: v for k, v in sample_hyperparameters().items() if k not in (first, second)}
    assert definition["StaticHyperParameters"] == static
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 7200}
    assert definition["CheckpointConfig"] == {"S3Uri": moto.uri("checkpoints/"), "LocalPath": "/opt/ml/checkpoints"}
    assert definition["OutputDataConfig"] == {"S3OutputPath": moto.uri("model/")}

    stored = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=moto.name)
    assert stored["TrainingJobDefinition"]["EnableManagedSpotTraining"] is True
    # The best training job's model is what the endpoint and the batch transform get.
    endpoint_model, batch_model = moto.sent["CreateModel"]
    for model in (endpoint_model, batch_model):
        assert model["PrimaryContainer"]["ModelDataUrl"] == moto.uri(artifact_key(BEST))
    check_nothing_left(moto)


def test_tuning_as_a_command_on_the_deploy_python(moto):
    """As users run it, by the interpreter in DEPLOY_PYTHON (e.g. Python 3.10 with requirements-deploy.txt)."""
    python = os.environ.get("DEPLOY_PYTHON") or sys.executable
    best_job_in_place(moto)
    moto.queue("endpoint-results", [{"Body": "setosa", "ContentType": "text/csv"}])
    ranges = [] if tuned_by_schema() else tune_arguments()  # the schema's own ranges, where it declares them
    tuning = ["--tune", *ranges, "--strategy", "Random", "--max-jobs", "4", "--spot", "--max-wait", "7200"]
    result = subprocess.run(
        [python, str(SCRIPT), *modes.command_args(moto.name), *tuning],
        env=aws_env(moto.url, AWS_MAX_ATTEMPTS="1"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"best training job {BEST}: " in result.stdout
    stored = client("sagemaker", moto.url).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=moto.name)
    assert stored["HyperParameterTuningJobConfig"]["Strategy"] == "Random"
    assert stored["TrainingJobDefinition"]["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200
    check_nothing_left(moto)


def test_a_long_run_name_is_cut_to_the_tuning_jobs_32_characters(lifecycle):
    from lifecycle.tuning import tuning_name

    long = "decision-trees-with-a-long-name-20260101-120000"
    cut = tuning_name(long)
    assert len(cut) == 32 and cut.startswith("decision-trees-with-a-l-") and cut != tuning_name(long + "1")
    assert tuning_name("short-name") == "short-name"


def test_spot_training_job_against_moto(moto, lifecycle, capsys):
    args = ["--spot", "--max-runtime", "1200", "--max-wait", "3600", "--checkpoint-local-path", "/opt/ml/ckpt"]
    status, out, err = moto.run(lifecycle, capsys, *args, "--train-only")
    assert status == 0, out + err
    training = moto.one("CreateTrainingJob")
    assert training["EnableManagedSpotTraining"] is True
    assert training["StoppingCondition"] == {"MaxRuntimeInSeconds": 1200, "MaxWaitTimeInSeconds": 3600}
    assert training["CheckpointConfig"] == {"S3Uri": moto.uri("checkpoints/"), "LocalPath": "/opt/ml/ckpt"}
    assert training["Environment"]["CHECKPOINT_DIR"] == "/opt/ml/ckpt"  # where the image writes and resumes
    stored = client("sagemaker", moto.url).describe_training_job(TrainingJobName=moto.name)
    assert stored["EnableManagedSpotTraining"] is True
    assert stored["StoppingCondition"]["MaxWaitTimeInSeconds"] == 3600
    assert "managed spot: MaxWaitTimeInSeconds 3600" in out

    # Without --spot: the runtime only, no spot fields.
    moto.sent.clear()
    status, out, err = moto.run(lifecycle, capsys, "--max-runtime", "900", "--train-only", "--name", moto.name + "-b")
    assert status == 0, out + err
    training = moto.one("CreateTrainingJob")
    assert training["StoppingCondition"] == {"MaxRuntimeInSeconds": 900}
    assert "EnableManagedSpotTraining" not in training and "CheckpointConfig" not in training


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spot", "--max-runtime", "3600", "--max-wait", "1800"], "--max-wait (1800 s) must be at least"),
        (["--max-wait", "7200"], "--max-wait applies to managed spot training only: add --spot"),
        (["--checkpoint-local-path", "/x"], "--checkpoint-local-path applies to managed spot training only"),
        (["--spot", "--checkpoint-local-path", "ckpt"], "must be an absolute path in the container"),
        (["--local", "--spot"], "--spot needs SageMaker"),
        (["--tune-range", "eta=0.1:0.2"], "--tune-range: for a tuning job only, add --tune"),
        (["--objective", "validation:rmse", "--max-jobs", "3"], "--objective, --max-jobs: for a tuning job only"),
        (["--tune", "--tune-range", "no_such=1,2"], "no hyperparameter 'no_such'"),
        (["--tune", "--objective", "validation:nonsense"], "is not a metric the program prints"),
        (["--tune", "--objective", "train:accuracy"], "rank on a validation metric"),
        (["--tune", "--strategy", "Grid"], "--strategy Grid takes lists of values only"),
        (["--tune", "--max-jobs", "0"], "--max-jobs must be at least 1"),
        (["--tune", "--max-jobs", "2", "--parallel-jobs", "3"], "--parallel-jobs (3) must not exceed --max-jobs (2)"),
        (["--local", "--tune", "--strategy", "Bayesian"], "--strategy Bayesian needs SageMaker"),
        (["--local", "--tune", "--early-stopping", "Auto"], "--early-stopping Auto needs SageMaker"),
        (["--local", "--tune", "--parallel-jobs", "2"], "a local tuning run trains one job at a time"),
    ],
)
def test_bad_tuning_and_spot_options_are_refused_before_any_request(args, message, lifecycle, capsys):
    if "--tune" in args and "--tune-range" not in args:
        args = [*args, *tune_arguments(1)]  # a range to tune, whatever hyperparameters.json declares
    assert message in modes.refusal(lifecycle, capsys, args)


def test_grid_options_are_refused_as_a_command(tmp_path):
    """As users run it: exit 2 and the sentence, with nothing listening for AWS requests."""
    name = list(tunable())[0]
    args = ["--image", IMAGE, "--role-arn", ROLE, "--bucket", BUCKET, "--tune", "--strategy", "Grid"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--tune-range", f"{name}=1,2,3,1"],
        env=aws_env("http://127.0.0.1:9"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "give 1 to 30 distinct values" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------
# A real local tuning run in the container.


def grid_arguments() -> list[str]:
    """A 2 x 2 grid: the two ends of the first two tunable ranges."""
    arguments = []
    for name, text in list(tunable().items())[:2]:
        ends = text.split(",")[:2] if ":" not in text else text.split(":")[:2]
        arguments += ["--tune-range", f"{name}={','.join(ends)}"]
    return arguments


def validation_accuracy(model_tar_gz, folder) -> float:
    """The saved model's accuracy on the validation channel, measured here on the host."""
    with tarfile.open(model_tar_gz) as archive:
        archive.extractall(folder, filter="data")
    model = load_model(folder)
    truth, predicted = [], []
    for path in dataset.channel_files(TEST_DIR / "input" / "data" / "validation"):
        labels, features, _ = dataset.read_file(path, FEATURE_TYPE, LABEL, COLUMNS or None)
        if TABLE:  # the cells as the model's table, categories as it was trained on them
            from contract import tables

            features = tables.frame(model.columns, features)
        truth += [str(label) for label in labels]
        predicted += [str(label) for label in model.predict(features)]  # the sample's own cells, as serve reads them
    return float(np.mean(np.array(truth) == np.array(predicted)))


def local_tuning_run(image, tmp_path, name: str, *args: str) -> subprocess.CompletedProcess:
    """The script's --local --tune, as users run it (over the schema's ranges, or tunable()'s if it declares none)."""
    if "--tune-range" not in args and not tuned_by_schema():
        args = (*args, *tune_arguments())
    env = {k: v for k, v in aws_env("http://127.0.0.1:9").items() if k != "AWS_ENDPOINT_URL"}
    command = [sys.executable, str(SCRIPT), "--local", "--image", image, "--workdir", str(tmp_path)]
    command += ["--port", str(free_port()), "--name", name, "--tune", *args, "--train-only"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, cwd=PROJECT)


@pytest.mark.exclusive
@pytest.mark.container
def test_local_tuning_run_ranks_jobs_by_their_logs_final_objective(image, tmp_path):
    name = f"tun-{uuid.uuid4().hex[:8]}"
    result = local_tuning_run(image, tmp_path, name, "--strategy", "Grid", *grid_arguments())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    header, *rows = [line.split() for line in printed_section(result.stdout, "tuning results (Maximize")]
    tuned = [arg.split("=")[0] for arg in grid_arguments()[1::2]]
    assert header == ["job", *tuned, "validation:accuracy", "seconds"], output[-3000:]
    assert len(rows) == 4 and len({tuple(row[1:3]) for row in rows}) == 4
    scores = {}
    for row in rows:
        job, objective = row[0], float(row[3])
        artifact = tmp_path / name / "tuning" / job / "model.tar.gz"
        measured = validation_accuracy(artifact, tmp_path / "models" / job)
        assert objective == pytest.approx(measured, abs=1e-5), job  # the log's final value is the model's
        scores[job] = objective
    best = max(scores, key=scores.get)  # the first of equals, in the order they ran
    assert f"best training job {best}: validation:accuracy = {scores[best]:.6g}" in result.stdout
    assert f"done: {name} tuned, model in file://{tmp_path / name / 'tuning' / best / 'model.tar.gz'}" in result.stdout
    print(json.dumps({"local tuning run": [dict(zip(header, row, strict=True)) for row in rows]}))


@pytest.mark.exclusive
@pytest.mark.container
def test_a_local_tuning_run_whose_objective_no_log_prints_fails_naming_what_they_printed(image, tmp_path):
    name = f"tun-{uuid.uuid4().hex[:8]}"
    # The sample data is a classification: no job prints a regression metric.
    result = local_tuning_run(image, tmp_path, name, "--max-jobs", "1", "--objective", "validation:r2")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{name}-t001 failed: its log gives no validation:r2 (it printed train:accuracy, validation:accuracy" in (
        result.stdout
    )
    assert f"error: local tuning run {name}: no training job gave validation:r2" in result.stderr


@pytest.mark.container
@numbers_only
def test_each_metrics_last_value_in_a_container_log_is_the_saved_models(image, opt_ml, lifecycle):
    """test_train.py's check on `docker run IMAGE train`'s log, read with the MetricDefinitions the
    lifecycle sends and the local tuning run's reading of them (each regex's last match)."""
    from lifecycle.project import metric_definitions
    from lifecycle.tuning import final_values

    labels, X = write_noisy_channels(opt_ml)
    result = docker("run", "--rm", "-v", f"{opt_ml}:/opt/ml", image, "train")
    log = result.stdout + result.stderr
    check_final_values_are_the_saved_models(log, final_values(log, metric_definitions()), opt_ml / "model", labels, X)
