"""The lifecycle's steps, each through a Backend: upload, train, deploy, predict, batch
transform, delete and clean up."""

import json
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lifecycle.backends import Backend
from lifecycle.project import (
    CHANNELS,
    CSV,
    PAYLOAD,
    PROJECT,
    StepFailed,
    metric_definitions,
    sample_hyperparameters,
    say,
    step,
)
from lifecycle.storage import LocalStorage

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
