"""The whole SageMaker lifecycle of this image, step by step, with the plain SageMaker API.

    python sagemaker_lifecycle.py --local
        SDK local mode: every step runs in Docker on this machine, no AWS account needed.
    python sagemaker_lifecycle.py --image URI --role-arn ARN --bucket BUCKET
        On SageMaker (IMAGE_URI, ROLE_ARN and BUCKET may come from the environment instead):
        URI is the ECR image `./build_and_push.sh` printed; ARN a role SageMaker can assume
        with access to BUCKET; BUCKET an S3 bucket in the same region.

Steps: upload the sample data (local_test/test_dir/input/data), train (MetricDefinitions
from the program's contract/metrics.py), create the model, the endpoint config and the endpoint,
send local_test/payload.csv to the endpoint and print the predictions, delete the
endpoint, run a batch transform of the same payload and print its output, and finally
delete the endpoint, the endpoint config and the model, also when a step failed.

One code path serves both modes: SageMaker's boto3 clients on AWS, and in local mode
the SDK's LocalSession clients, which take the same calls (sagemaker-core's
`sagemaker.core.local`). Only storage differs: s3:// URIs on AWS, file:// in local mode.
Any failure exits with status 1.
"""

import argparse
import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import boto3
except ImportError:
    sys.exit(
        "sagemaker_lifecycle.py needs boto3 (and sagemaker-core for --local): pip install -r requirements-deploy.txt"
    )

ALGORITHM = "{{ cookiecutter.algorithm_name }}"
REGION = "{{ cookiecutter.aws_region }}"
TRAINING_INSTANCE_TYPE = "{{ cookiecutter.training_instance_type }}"
HOSTING_INSTANCE_TYPE = "{{ cookiecutter.hosting_instance_type }}"

PROJECT = Path(__file__).resolve().parent
PROGRAM = PROJECT / ALGORITHM
TEST_DIR = PROJECT / "local_test" / "test_dir"
CHANNELS = ("training", "validation")
PAYLOAD = PROJECT / "local_test" / "payload.csv"
CSV = "text/csv"

NAME_MAX = 63  # SageMaker job, model and endpoint names: [a-zA-Z0-9](-*[a-zA-Z0-9])*, at most 63
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ECR_IMAGE = re.compile(r"\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[^:@\s]+([:@]\S+)?")
LOCAL_NETWORK = "sagemaker-local"  # the one Docker network SDK local mode puts every container on
COMPOSE_DIR_LABEL = "com.docker.compose.project.working_dir"
TELEMETRY_OPT_OUT = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


class StepFailed(RuntimeError):
    """A step did not succeed; the message says which and why."""


def say(message: str) -> None:
    print(message, flush=True)


def step(message: str) -> None:
    say(f"\n==> {message}")


# ---------------------------------------------------------------------------------------
# One source of truth: metric regexes from metrics.py, sample hyperparameters from local_test.


def _load_program_module(name: str):
    """A module of the program's contract package, loaded by path (without the program on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"program_{name}", PROGRAM / "contract" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def iteration_metrics() -> tuple[str, ...]:
    """model.py's ITERATION_METRICS (optional: none), read without importing model.py (and so the framework)."""
    tree = ast.parse((PROGRAM / "model.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "ITERATION_METRICS" for t in targets):
                return tuple(ast.literal_eval(node.value))
    return ()


def metric_definitions() -> list[dict[str, str]]:
    """MetricDefinitions for both tasks: the task follows from the data, and a metric the log
    never prints is simply not recorded."""
    metrics = _load_program_module("metrics")
    found: dict[str, dict[str, str]] = {}
    for task in ("classification", "regression"):
        for definition in metrics.definitions(task, iteration_metrics()):
            found.setdefault(definition["Name"], definition)
    return list(found.values())


def sample_hyperparameters() -> dict[str, str]:
    """local_test's hyperparameters.json, as the strings SageMaker passes to the container."""
    values = json.loads((TEST_DIR / "input" / "config" / "hyperparameters.json").read_text(encoding="utf-8"))
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def resource_name(base: str, when: datetime) -> str:
    """<algorithm>-<UTC time>: '_' is not allowed in SageMaker names."""
    stamp = when.strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[: NAME_MAX - len(stamp) - 1].rstrip("-")
    return f"{stem}-{stamp}"


# ---------------------------------------------------------------------------------------
# Storage: S3 on AWS, a local folder in local mode. Keys are relative to the run's root.


class S3Storage:
    def __init__(self, s3, bucket: str, prefix: str):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/")

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{key}"

    def upload(self, path: Path, key: str) -> str:
        self.s3.upload_file(str(path), self.bucket, f"{self.prefix}/{key}")
        return self.uri(key)

    def folder_uri(self, key: str) -> str:
        return self.uri(key).rstrip("/") + "/"

    def read_folder(self, key: str) -> dict[str, bytes]:
        prefix = f"{self.prefix}/{key.strip('/')}/"
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                found[item["Key"][len(prefix) :]] = body
        return found


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    def uri(self, key: str) -> str:
        return f"file://{self.root / key}"  # no percent-encoding: local mode reads the path as is

    def upload(self, path: Path, key: str) -> str:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return self.uri(key)

    def folder_uri(self, key: str) -> str:
        (self.root / key).mkdir(parents=True, exist_ok=True)
        return self.uri(key)

    def read_folder(self, key: str) -> dict[str, bytes]:
        folder = self.root / key
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------
# Local mode: what the SDK needs, and the containers and network it leaves behind.


@dataclass
class LocalDocker:
    """The Docker side of local mode. The SDK stops but never removes its containers, and
    leaves its network: cleanup() removes the containers of this run (found by their compose
    folder, under container_root) and the network once no container uses it."""

    container_root: Path
    removed: list[str] = field(default_factory=list)

    def containers(self) -> list[dict]:
        ids = _docker("ps", "-a", "-q", "--no-trunc", "--filter", f"label={COMPOSE_DIR_LABEL}").split()
        if not ids:
            return []
        details = json.loads(_docker("inspect", *ids))
        root = str(self.container_root)
        return [
            c for c in details if (c["Config"].get("Labels") or {}).get(COMPOSE_DIR_LABEL, "").startswith(root + os.sep)
        ]

    def cleanup(self) -> list[str]:
        """Removes this run's containers, the network if unused and container_root; returns problems."""
        problems = []
        for container in self.containers():
            name = container["Name"].lstrip("/")
            try:
                _docker("rm", "-f", container["Id"])
                self.removed.append(name)
            except StepFailed as exc:
                problems.append(str(exc))
        try:
            network = json.loads(_docker("network", "inspect", LOCAL_NETWORK))[0]
        except StepFailed:
            network = None  # already gone
        if network is not None:
            if network.get("Containers"):
                say(f"    network {LOCAL_NETWORK} is still used by other containers: left in place")
            else:
                try:
                    _docker("network", "rm", LOCAL_NETWORK)
                    self.removed.append(f"network {LOCAL_NETWORK}")
                except StepFailed as exc:
                    problems.append(str(exc))
        # Compose files there hold the session's AWS credentials, if it had any.
        shutil.rmtree(self.container_root, ignore_errors=True)
        if self.container_root.exists():
            problems.append(f"could not delete {self.container_root} (files written as root by a container?)")
        return problems


def _docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StepFailed(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Backend:
    """What differs between SageMaker and local mode; every step below uses only this."""

    sagemaker: Any  # create_training_job, describe_*, create_model, ... (boto3's call shapes)
    runtime: Any  # invoke_endpoint
    storage: S3Storage | LocalStorage
    role_arn: str
    training_instance_type: str
    hosting_instance_type: str
    poll_seconds: int
    local: LocalDocker | None = None


def local_backend(args: argparse.Namespace, run_dir: Path) -> Backend:
    """SDK local mode through sagemaker-core's LocalSession, set up to run without AWS."""
    if shutil.which("docker") is None:
        raise StepFailed("local mode needs Docker: the docker command is not installed")
    # A region is required even though nothing calls AWS; the metadata service would only
    # add timeouts off EC2; telemetry would call AWS on every step: opt out (unless the
    # user has a SageMaker config file of their own).
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    if "SAGEMAKER_USER_CONFIG_OVERRIDE" not in os.environ:
        config = run_dir / "sagemaker-config.yaml"
        config.write_text(TELEMETRY_OPT_OUT, encoding="utf-8")
        os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(config)
    try:
        from sagemaker.core.local.local_session import LocalSession
    except ImportError as exc:
        raise StepFailed(f"local mode needs sagemaker-core: pip install -r requirements-deploy.txt ({exc})") from exc

    container_root = run_dir / "containers"
    container_root.mkdir(parents=True, exist_ok=True)
    session = LocalSession(boto_session=boto3.Session(region_name=args.region))
    session.config = {"local": {"local_code": True, "serving_port": args.port, "container_root": str(container_root)}}
    return Backend(
        sagemaker=session.sagemaker_client,
        runtime=session.sagemaker_runtime_client,
        storage=LocalStorage(run_dir),
        role_arn=args.role_arn or "arn:aws:iam::000000000000:role/local-mode-needs-no-role",
        training_instance_type="local",
        hosting_instance_type="local",
        poll_seconds=1,
        local=LocalDocker(container_root),
    )


def aws_backend(args: argparse.Namespace, name: str) -> Backend:
    missing = [
        flag for flag, value in (("--role-arn/ROLE_ARN", args.role_arn), ("--bucket/BUCKET", args.bucket)) if not value
    ]
    if missing:
        raise StepFailed(f"on SageMaker, {' and '.join(missing)} must be given (or use --local)")
    session = boto3.Session(region_name=args.region)
    return Backend(
        sagemaker=session.client("sagemaker"),
        runtime=session.client("sagemaker-runtime"),
        storage=S3Storage(session.client("s3"), args.bucket, f"{args.prefix}/{name}"),
        role_arn=args.role_arn,
        training_instance_type=args.training_instance_type,
        hosting_instance_type=args.hosting_instance_type,
        poll_seconds=args.poll_seconds,
    )


def check_image(image: str, local: bool, region: str) -> None:
    if local:
        return
    match = ECR_IMAGE.fullmatch(image)
    if not match:
        raise StepFailed(
            f"--image {image!r} is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>): "
            "run ./build_and_push.sh and pass the URI it prints"
        )
    if match.group(1) != region:
        raise StepFailed(f"the image is in {match.group(1)}, the jobs would run in {region}: they must match")
    if image.endswith(":latest") or not match.group(3):
        say(f"warning: {image} has a moving tag; an immutable tag says which code an endpoint runs")


# ---------------------------------------------------------------------------------------
# The lifecycle.


TERMINAL_OK = {"Completed", "InService"}
TERMINAL_BAD = {"Failed", "Stopped", "OutOfService", "UpdateRollbackFailed"}


def wait_for(what: str, describe, status_key: str, poll_seconds: int) -> dict:
    """Polls a describe_* call until the resource is ready; local mode is ready at once."""
    last = None
    while True:
        description = describe()
        status = description[status_key]
        if status in TERMINAL_OK:
            return description
        if status in TERMINAL_BAD:
            reason = description.get("FailureReason") or "no reason given"
            raise StepFailed(f"{what} ended {status}: {reason}")
        if status != last:
            say(f"    {what}: {status}")
            last = status
        time.sleep(poll_seconds)


@dataclass
class Resources:
    """What was created, so cleanup deletes exactly that, in reverse order of need."""

    endpoint: str | None = None
    endpoint_config: str | None = None
    model: str | None = None
    running_jobs: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) to stop on failure


def upload_data(backend: Backend, data: Path) -> dict[str, str]:
    step(f"upload the data in {data}")
    uris = {}
    for channel in CHANNELS:
        folder = data / channel
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if not files:
            raise StepFailed(f"{folder} holds no files")
        for path in files:
            say(f"    {path} -> {backend.storage.upload(path, f'input/{channel}/{path.name}')}")
        uris[channel] = backend.storage.folder_uri(f"input/{channel}")
    say(f"    {PAYLOAD.relative_to(PROJECT)} -> {backend.storage.upload(PAYLOAD, f'input/batch/{PAYLOAD.name}')}")
    uris["batch"] = backend.storage.folder_uri("input/batch")
    return uris


def training_request(
    backend: Backend, name: str, image: str, uris: dict[str, str], instances: int = 1, environment: dict | None = None
) -> dict:
    """CreateTrainingJob's arguments: the sample hyperparameters, and metrics.py's regexes."""
    return dict(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(),
        },
        RoleArn=backend.role_arn,
        HyperParameters=sample_hyperparameters(),
        InputDataConfig=[
            {
                "ChannelName": channel,
                "ContentType": CSV,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uris[channel],
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel in CHANNELS
        ],
        OutputDataConfig={"S3OutputPath": backend.storage.folder_uri("model")},
        ResourceConfig={
            "InstanceType": backend.training_instance_type,
            "InstanceCount": instances,
            "VolumeSizeInGB": 10,
        },
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Environment=environment or {},
    )


def local_failure_reason(storage: LocalStorage) -> str | None:
    """What the container wrote to /opt/ml/output/failure; local mode packs it in output.tar.gz."""
    try:
        with tarfile.open(storage.root / "model" / "output.tar.gz") as archive:
            member = archive.extractfile("failure")
            return member.read().decode("utf-8", "replace").strip() if member else None
    except (OSError, KeyError, tarfile.TarError):
        return None


def train(
    backend: Backend,
    name: str,
    image: str,
    uris: dict[str, str],
    resources: Resources,
    instances: int = 1,
    environment: dict | None = None,
) -> str:
    request = training_request(backend, name, image, uris, instances, environment)
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]
    step(f"training job {name}")
    say(f"    image {image} on {instances} x {backend.training_instance_type}")
    say(f"    hyperparameters {json.dumps(request['HyperParameters'])}")
    say(f"    {len(definitions)} MetricDefinitions: {', '.join(d['Name'] for d in definitions)}")
    resources.running_jobs.append(("training", name))
    try:
        backend.sagemaker.create_training_job(**request)
    except RuntimeError as exc:  # local mode runs the whole job in the call, and raises if it fails
        if backend.local is None:
            raise
        raise StepFailed(f"training job {name} failed: {local_failure_reason(backend.storage) or exc}") from exc
    job = wait_for(
        f"training job {name}",
        lambda: backend.sagemaker.describe_training_job(TrainingJobName=name),
        "TrainingJobStatus",
        backend.poll_seconds,
    )
    resources.running_jobs.remove(("training", name))
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    say(f"    model artifact {artifact}")
    for metric in job.get("FinalMetricDataList", []):  # SageMaker only: local mode records no metrics
        say(f"    metric {metric['MetricName']} = {metric['Value']}")
    return artifact


def deploy(backend: Backend, name: str, image: str, artifact: str, resources: Resources) -> None:
    step(f"model {name}")
    backend.sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": image, "ModelDataUrl": artifact, "Environment": {}},
        ExecutionRoleArn=backend.role_arn,
    )
    resources.model = name

    step(f"endpoint config {name}: 1 x {backend.hosting_instance_type}")
    backend.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": backend.hosting_instance_type,
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    resources.endpoint_config = name

    step(f"endpoint {name} (on SageMaker this takes several minutes)")
    resources.endpoint = name
    backend.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_for(
        f"endpoint {name}",
        lambda: backend.sagemaker.describe_endpoint(EndpointName=name),
        "EndpointStatus",
        backend.poll_seconds,
    )
    say(f"    endpoint {name} is InService")


def predict(backend: Backend, name: str) -> str:
    step(f"predict: {PAYLOAD.relative_to(PROJECT)} -> endpoint {name}")
    response = backend.runtime.invoke_endpoint(
        EndpointName=name, ContentType=CSV, Accept=CSV, Body=PAYLOAD.read_bytes()
    )
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
    body = response["Body"].read().decode("utf-8")
    if status >= 400:  # SageMaker raises ModelError itself; the local client returns the answer as is
        raise StepFailed(f"the endpoint answered {status}: {body}")
    # One write for the whole block: local mode's container logs share this stdout.
    say("\n".join(["predictions:"] + [f"    {line}" for line in body.splitlines()]))
    return body


DELETIONS = {  # Resources attribute: (what, delete call, its name argument)
    "endpoint": ("endpoint", "delete_endpoint", "EndpointName"),
    "endpoint_config": ("endpoint config", "delete_endpoint_config", "EndpointConfigName"),
    "model": ("model", "delete_model", "ModelName"),
}


def delete(backend: Backend, resources: Resources, *which: str) -> list[str]:
    """Deletes the named resources that exist, each on its own; returns what failed."""
    problems = []
    for attribute in which:
        name = getattr(resources, attribute)
        if name is None:
            continue
        what, call, argument = DELETIONS[attribute]
        say(f"    delete {what} {name}")
        try:
            getattr(backend.sagemaker, call)(**{argument: name})
            setattr(resources, attribute, None)
        except Exception as exc:  # the others are still deleted; the failure is reported
            problems.append(f"delete {what} {name}: {exc}")
    return problems


def batch_transform(backend: Backend, name: str, uris: dict[str, str], resources: Resources) -> dict[str, str]:
    step(f"batch transform {name}: {uris['batch']}")
    output = "transform"
    resources.running_jobs.append(("transform", name))
    backend.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=name,
        BatchStrategy="MultiRecord",  # explicit: local mode rejects the container's MULTI_RECORD spelling
        MaxPayloadInMB=6,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uris["batch"]}},
            "ContentType": CSV,
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": backend.storage.folder_uri(output), "Accept": CSV, "AssembleWith": "Line"},
        TransformResources={"InstanceType": backend.hosting_instance_type, "InstanceCount": 1},
    )
    wait_for(
        f"transform job {name}",
        lambda: backend.sagemaker.describe_transform_job(TransformJobName=name),
        "TransformJobStatus",
        backend.poll_seconds,
    )
    resources.running_jobs.remove(("transform", name))
    outputs = {key: body.decode("utf-8") for key, body in backend.storage.read_folder(output).items()}
    if not outputs:
        raise StepFailed(f"transform job {name} completed but wrote nothing to {backend.storage.uri(output)}")
    for key, text in outputs.items():
        lines = [f"    {line}" for line in text.splitlines() if line]
        say("\n".join([f"batch output {backend.storage.uri(output)}/{key}:"] + lines))
    return outputs


def stop_if_running(backend: Backend, kind: str, job: str) -> None:
    """Stops a training or transform job that an interruption or an error left running."""
    key = {"training": "TrainingJob", "transform": "TransformJob"}[kind]
    call = {"training": "training_job", "transform": "transform_job"}[kind]
    status = getattr(backend.sagemaker, f"describe_{call}")(**{f"{key}Name": job})[f"{key}Status"]
    if status == "InProgress":
        say(f"    stop {kind} job {job}")
        getattr(backend.sagemaker, f"stop_{call}")(**{f"{key}Name": job})


def cleanup(backend: Backend, resources: Resources) -> list[str]:
    """Deletes whatever this run created and is still there; returns what could not be deleted."""
    problems = []
    for kind, job in resources.running_jobs:
        if backend.local is None:  # local jobs run to the end inside create_*: nothing to stop
            try:
                stop_if_running(backend, kind, job)
            except Exception as exc:  # cleanup goes on; the failure is reported
                problems.append(f"stop {kind} job {job}: {exc}")
    problems += delete(backend, resources, "endpoint", "endpoint_config", "model")
    if backend.local is not None:
        problems += backend.local.cleanup()
        for removed in backend.local.removed:
            say(f"    removed {removed}")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--local", action="store_true", help="run everything in Docker with SDK local mode")
    parser.add_argument(
        "--image",
        default=os.environ.get("IMAGE_URI"),
        help=f"the image (default: $IMAGE_URI; in local mode, else {ALGORITHM})",
    )
    parser.add_argument(
        "--role-arn", default=os.environ.get("ROLE_ARN"), help="SageMaker execution role (default: $ROLE_ARN)"
    )
    parser.add_argument(
        "--bucket", default=os.environ.get("BUCKET"), help="S3 bucket for data and models (default: $BUCKET)"
    )
    parser.add_argument("--prefix", default=ALGORITHM, help="S3 key prefix (default: %(default)s)")
    parser.add_argument(
        "--region",
        help=f"AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the AWS profile's, else {REGION}),"
        " as build_and_push.sh picks it",
    )
    parser.add_argument("--training-instance-type", default=TRAINING_INSTANCE_TYPE, help="default: %(default)s")
    parser.add_argument("--hosting-instance-type", default=HOSTING_INSTANCE_TYPE, help="default: %(default)s")
    parser.add_argument("--name", help="name of the jobs, model and endpoint (default: <algorithm>-<UTC time>)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=PROJECT / ".sagemaker",
        help="local mode: where data, model and batch output go (default: .sagemaker/)",
    )
    parser.add_argument("--port", type=int, default=8080, help="local mode: host port of the endpoint (default: 8080)")
    parser.add_argument("--poll-seconds", type=int, default=30, help="SageMaker: seconds between status checks")
    parser.add_argument(
        "--data",
        type=Path,
        default=TEST_DIR / "input" / "data",
        help="folder with training/ and validation/ CSV files to upload (default: the sample data)",
    )
    parser.add_argument(
        "--instance-count", type=int, default=1, help="training instances (XGBoost trains one model across them)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="environment of the training job (repeatable)"
    )
    parser.add_argument("--train-only", action="store_true", help="stop after training (keeps the model artifact)")
    args = parser.parse_args(argv)
    args.region = (
        args.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or boto3.Session().region_name  # the AWS profile's region
        or REGION
    )
    if args.image is None and args.local:
        args.image = ALGORITHM
    if args.image is None:
        parser.error("--image (or IMAGE_URI) is required on SageMaker: the ECR URI ./build_and_push.sh prints")
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    if args.name is not None and not (NAME.fullmatch(args.name) and len(args.name) <= NAME_MAX):
        parser.error("--name must be 1 to 63 letters, digits and '-', starting and ending with a letter or digit")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = args.name or resource_name(ALGORITHM, datetime.now(timezone.utc))
    resources = Resources()
    backend = None
    problems: list[str] = []
    try:
        check_image(args.image, args.local, args.region)
        if args.local:
            run_dir = (args.workdir / name).resolve()
            run_dir.mkdir(parents=True, exist_ok=True)
            say(f"SDK local mode: region {args.region}, files in {run_dir}, endpoint on port {args.port}")
            backend = local_backend(args, run_dir)
        else:
            say(f"SageMaker in {args.region}: files in s3://{args.bucket}/{args.prefix}/{name}/")
            backend = aws_backend(args, name)
        uris = upload_data(backend, args.data)
        environment = dict(item.split("=", 1) for item in args.env)
        artifact = train(backend, name, args.image, uris, resources, args.instance_count, environment)
        if args.train_only:
            return finish(backend, resources, problems, f"\ndone: {name} trained, model in {artifact}")
        deploy(backend, name, args.image, artifact, resources)
        predict(backend, name)
        # The endpoint bills by the hour, and in local mode it holds the port batch transform needs.
        step("delete the endpoint: batch transform starts its own instances")
        problems += delete(backend, resources, "endpoint", "endpoint_config")
        if problems:
            raise StepFailed("could not delete the endpoint")
        batch_transform(backend, name, uris, resources)
    except (Exception, KeyboardInterrupt) as exc:  # report any failure, clean up, exit 1
        kind = "" if isinstance(exc, StepFailed) else f"{type(exc).__name__}: "
        problems.append(f"{kind}{exc}" if str(exc) else kind + "interrupted")
    return finish(
        backend, resources, problems, f"\ndone: {name} trained, served, predicted, batch-transformed and cleaned up"
    )


def finish(backend: Backend | None, resources: Resources, problems: list[str], success: str) -> int:
    """Clean up whatever the run created, then report: exit code 0 or 1."""
    if backend is not None:
        step("clean up")
        problems += [f"cleanup: {problem}" for problem in cleanup(backend, resources)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr, flush=True)
    if problems:
        return 1
    say(success)
    return 0


if __name__ == "__main__":
    sys.exit(main())
