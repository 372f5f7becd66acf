"""sagemaker_lifecycle.py for real.

- SDK local mode end to end (train, deploy, predict, batch, clean up) on the image as
  SageMaker gets it: pushed by build_and_push.sh to a registry and pulled back.
- The MetricDefinitions it sends, run over a real `docker run IMAGE train` log.
- The SageMaker path's calls, checked by botocore and recorded by a moto server (the default,
  real-time hosting; tests/test_hosting_modes.py runs every other mode against moto).
"""

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import boto3
import pytest
import requests
from aws_fakes import (
    ACCOUNT,
    REGION,
    SECRET_ACCESS_KEY,
    aws_env,
    build_and_push,
    client,
    copy_project,
    moto_server,
    pull_back,
    registry,
)
from conftest import PROJECT, TEST_DIR, docker, free_port

from contract import metrics

pytestmark = pytest.mark.container

ALGORITHM = "decision_trees"
SCRIPT = PROJECT / "sagemaker_lifecycle.py"
NETWORK = "sagemaker-local"
COMPOSE_DIR_LABEL = "com.docker.compose.project.working_dir"


def load_lifecycle():
    if str(PROJECT) not in sys.path:  # its parts, lifecycle/, beside it (as when it runs as a script)
        sys.path.insert(0, str(PROJECT))
    spec = importlib.util.spec_from_file_location("sagemaker_lifecycle", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_lifecycle(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def printed_section(stdout: str, heading: str) -> list[str]:
    """The indented lines the script printed under a heading such as 'predictions:'."""
    # Local mode's container log lines ("\x1b[36m<container> |\x1b[0m ...") share stdout: skip them.
    lines = [line for line in stdout.splitlines() if not re.match(r"(\x1b\[[0-9;]*m)?\S+ +\|", line)]
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 1
    section = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        section.append(line.strip())
    return section


@pytest.fixture(scope="module")
def pushed_image(image, tmp_path_factory):
    """The image pushed by build_and_push.sh to a local registry, then pulled back from it."""
    root = tmp_path_factory.mktemp("push")
    with moto_server(root) as moto, registry(root) as host:
        push = build_and_push(PROJECT, moto, host, root / "docker-config", TAG=f"lifecycle-{uuid.uuid4().hex[:8]}")
        assert push.result.returncode == 0, push.output
        pull_back(push.uri)
    yield push.uri
    docker("rmi", push.uri, check=False)


def our_containers(root) -> list[str]:
    """Containers, running or stopped, that local mode started for compose files under root."""
    ids = docker("ps", "-a", "-q", "--no-trunc", "--filter", f"label={COMPOSE_DIR_LABEL}").stdout.split()
    if not ids:
        return []
    details = json.loads(docker("inspect", *ids).stdout)
    return [
        c["Name"] for c in details if (c["Config"]["Labels"] or {}).get(COMPOSE_DIR_LABEL, "").startswith(f"{root}/")
    ]


@pytest.mark.exclusive
@pytest.mark.parametrize("hosting", ["realtime", "async"])
def test_local_mode_end_to_end(pushed_image, expected, tmp_path, hosting):
    """Async too: the local front takes InvokeEndpointAsync, and the answer appears in the run's folder."""
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in aws_env("http://127.0.0.1:9").items() if k != "AWS_ENDPOINT_URL"}
    result = run_lifecycle(
        "--local",
        "--hosting",
        hosting,
        "--image",
        pushed_image,
        "--workdir",
        str(tmp_path),
        "--port",
        str(free_port()),
        "--name",
        name,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    want = [str(label) for label in expected]  # what the model trained on the host predicts
    assert printed_section(result.stdout, "predictions:") == want, output
    if hosting == "async":
        answers = list((tmp_path / name / "async" / "output").glob("*.out"))
        assert len(answers) == 1 and answers[0].read_text().splitlines() == want, output
    batch = tmp_path / name / "transform" / "payload.csv.out"
    assert [line for line in batch.read_text().splitlines() if line] == want
    assert printed_section(result.stdout, "batch output") == want

    # Nothing left behind: no container of this run, no compose folders, no unused network.
    assert our_containers(tmp_path) == []
    assert not (tmp_path / name / "containers").exists()
    network = docker("network", "inspect", NETWORK, check=False)
    if network.returncode == 0:  # another local-mode run on this machine may be using it right now
        assert json.loads(network.stdout)[0]["Containers"], "an unused sagemaker-local network was left"
    assert SECRET_ACCESS_KEY not in output


@pytest.mark.exclusive
def test_local_mode_failure_exits_1_and_still_cleans_up(image, tmp_path):
    project = copy_project(tmp_path)
    hyperparameters = project / "local_test" / "test_dir" / "input" / "config" / "hyperparameters.json"
    hyperparameters.write_text('{"no_such_hyperparameter": "1"}\n')
    name = f"failing-{uuid.uuid4().hex[:8]}"
    work = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    result = subprocess.run(
        [sys.executable, str(project / SCRIPT.name), "--local", "--image", image]
        + ["--workdir", str(work), "--port", str(free_port()), "--name", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    # The container's own reason (its /opt/ml/output/failure), not just "exit code 1".
    assert re.search(rf"error: training job {name} failed: .*no_such_hyperparameter", result.stderr), result.stderr
    assert "predictions:" not in result.stdout
    assert "==> clean up" in result.stdout
    assert our_containers(work) == []
    assert not (work / name / "containers").exists()


def test_metric_definitions_match_a_container_training_log(image, tmp_path):
    opt_ml = tmp_path / "opt_ml"
    shutil.copytree(TEST_DIR / "input", opt_ml / "input")
    result = docker("run", "--rm", "-v", f"{opt_ml}:/opt/ml", image, "train")
    log = result.stdout + result.stderr

    load_lifecycle()
    from lifecycle.project import metric_definitions

    definitions = metric_definitions()
    assert 1 <= len(definitions) <= 40
    assert len({d["Name"] for d in definitions}) == len(definitions)
    found = {}
    for definition in definitions:
        assert 1 <= len(definition["Name"]) <= 255 and 1 <= len(definition["Regex"]) <= 500
        match = re.search(definition["Regex"], log)
        if match:
            found[definition["Name"]] = float(match.group(1))  # the first group must be a number
    task = re.search(r"^task: (\w+)", log, re.M).group(1)
    final = {f"{channel}:{name}" for channel in ("train", "validation") for name in metrics.FINAL[task]}
    assert final <= set(found), log
    printed = set(re.findall(r"^(?:\[\d+\] )?(\w+:[\w-]+)=", log, re.M))
    assert printed <= set(found), f"metric lines no definition records: {printed - set(found)}"


def test_sagemaker_path_calls_against_moto(tmp_path, monkeypatch, capsys):
    """The requests SageMaker would get: botocore validates each one, and moto answers.

    The script runs in this process so that every SageMaker request can be recorded as sent.
    moto runs no container: the prediction comes from moto's configurable answer queue, and
    the batch output file is put where the transform job would write it.
    """
    lifecycle = load_lifecycle()
    name = f"moto-{uuid.uuid4().hex[:8]}"
    bucket = "lifecycle-test"
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{ALGORITHM}:0123abcd"
    role = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution"
    sent: dict[str, list[dict]] = {}

    class RecordingSession(boto3.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.events.register("provide-client-params.sagemaker", self.record)

        @staticmethod
        def record(params, model, **_):
            sent.setdefault(model.name, []).append(copy.deepcopy(params))

    with moto_server(tmp_path) as moto:
        for key in [k for k in os.environ if k.startswith(("AWS_", "SAGEMAKER_"))]:
            monkeypatch.delenv(key)
        for key, value in aws_env(moto).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(lifecycle.boto3, "Session", RecordingSession)
        s3 = client("s3", moto)
        s3.create_bucket(Bucket=bucket)
        answer = {"Body": "setosa\nvirginica", "ContentType": "text/csv", "InvokedProductionVariant": "AllTraffic"}
        requests.post(f"{moto}/moto-api/static/sagemaker/endpoint-results", json={"results": [answer]}, timeout=10)
        s3.put_object(Bucket=bucket, Key=f"{ALGORITHM}/{name}/transform/payload.csv.out", Body=b"setosa\nvirginica\n")

        args = ["--image", image, "--role-arn", role, "--bucket", bucket, "--name", name, "--poll-seconds", "1"]
        status = lifecycle.main(args)
        printed = capsys.readouterr()
        assert status == 0, printed.out + printed.err
        assert printed_section(printed.out, "predictions:") == ["setosa", "virginica"]
        assert printed_section(printed.out, "batch output") == ["setosa", "virginica"]

        [training] = sent["CreateTrainingJob"]
        assert training["TrainingJobName"] == name and training["RoleArn"] == role
        assert training["AlgorithmSpecification"]["TrainingImage"] == image
        from lifecycle.project import metric_definitions, sample_hyperparameters

        assert training["AlgorithmSpecification"]["MetricDefinitions"] == metric_definitions()
        assert training["HyperParameters"] == sample_hyperparameters()
        hyperparameters = json.loads((TEST_DIR / "input" / "config" / "hyperparameters.json").read_text())
        assert set(training["HyperParameters"]) == set(hyperparameters)
        channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in training["InputDataConfig"]}
        assert channels == {ch: f"s3://{bucket}/{ALGORITHM}/{name}/input/{ch}/" for ch in ("training", "validation")}
        assert training["ResourceConfig"]["InstanceType"] == "ml.m5.large"

        sagemaker = client("sagemaker", moto)
        from lifecycle.project import hosting

        # The endpoint's model carries the real-time limits; batch's own model, batch's.
        model, batch_model = sent["CreateModel"]
        artifact = sagemaker.describe_training_job(TrainingJobName=name)["ModelArtifacts"]
        for request, mode in ((model, "realtime"), (batch_model, "batch")):
            assert request["PrimaryContainer"] == {
                "Image": image,
                "ModelDataUrl": artifact["S3ModelArtifacts"],
                "Environment": hosting().MODES[mode].environment(),
            }
        [config] = sent["CreateEndpointConfig"]
        assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"

        [transform] = sent["CreateTransformJob"]
        assert transform["ModelName"] == batch_model["ModelName"] != model["ModelName"]
        assert transform["BatchStrategy"] == "MultiRecord"
        assert transform["TransformInput"]["SplitType"] == "Line"
        assert transform["TransformInput"]["ContentType"] == "text/csv"
        assert transform["TransformOutput"]["AssembleWith"] == "Line"
        assert transform["TransformOutput"]["Accept"] == "text/csv"

        # The endpoint goes before the batch job; everything is deleted once, in order.
        operations = [op for op in sent if op.startswith(("Create", "Delete"))]
        assert operations == [
            "CreateTrainingJob",
            "CreateModel",
            "CreateEndpointConfig",
            "CreateEndpoint",
            "DeleteEndpoint",
            "DeleteEndpointConfig",
            "CreateTransformJob",
            "DeleteModel",
        ]
        assert [len(sent[op]) for op in operations] == [1, 2, 1, 1, 1, 1, 1, 2]
        assert [m["ModelName"] for m in sent["DeleteModel"]] == [model["ModelName"], batch_model["ModelName"]]

        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        samples = sorted(f"input/{p.parent.name}/{p.name}" for p in (TEST_DIR / "input" / "data").glob("*/*.csv"))
        for key in [*samples, "input/batch/payload.csv"]:
            assert f"{ALGORITHM}/{name}/{key}" in keys
        assert sagemaker.list_endpoints()["Endpoints"] == []
        assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
        assert sagemaker.list_models()["Models"] == []


def test_sagemaker_path_as_a_command_on_the_deploy_python(tmp_path):
    """The script as users run it, by the interpreter in DEPLOY_PYTHON (e.g. a Python 3.10 venv
    with only requirements-deploy.txt, as in SageMaker Studio); this one's by default."""
    python = os.environ.get("DEPLOY_PYTHON") or sys.executable
    name, bucket = f"moto-{uuid.uuid4().hex[:8]}", "lifecycle-cli"
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{ALGORITHM}:0123abcd"
    with moto_server(tmp_path) as moto:
        client("s3", moto).create_bucket(Bucket=bucket)
        answer = {"Body": "setosa", "ContentType": "text/csv", "InvokedProductionVariant": "AllTraffic"}
        requests.post(f"{moto}/moto-api/static/sagemaker/endpoint-results", json={"results": [answer]}, timeout=10)
        key = f"{ALGORITHM}/{name}/transform/payload.csv.out"
        client("s3", moto).put_object(Bucket=bucket, Key=key, Body=b"setosa\n")
        args = ["--image", image, "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/r", "--bucket", bucket]
        result = subprocess.run(
            [python, str(SCRIPT), *args, "--name", name, "--poll-seconds", "1"],
            env=aws_env(moto), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert printed_section(result.stdout, "predictions:") == ["setosa"]


def test_sagemaker_path_needs_an_ecr_image_a_role_and_a_bucket(tmp_path):
    env = aws_env("http://127.0.0.1:9")  # nothing listens there: no request may be sent
    missing_image = run_lifecycle(env=env, timeout=60)
    assert missing_image.returncode == 2 and "--image" in missing_image.stderr
    not_ecr = run_lifecycle("--image", ALGORITHM, "--role-arn", "r", "--bucket", "b", env=env, timeout=60)
    assert not_ecr.returncode == 1 and "not an ECR image URI" in not_ecr.stderr
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{ALGORITHM}:0123abcd"
    no_role = run_lifecycle("--image", image, env=env, timeout=60)
    assert no_role.returncode == 1 and "--role-arn/ROLE_ARN and --bucket/BUCKET" in no_role.stderr
