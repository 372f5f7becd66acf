"""The lifecycle's steps, each through a Backend: upload, train, batch transform and clean up
(deploy and predict, in each hosting mode, are in endpoints.py)."""

import json
import tarfile
from pathlib import Path

from lifecycle.backends import Backend
from lifecycle.project import (
    CHANNELS,
    CSV,
    PAYLOAD,
    PROJECT,
    StepFailed,
    derived_name,
    metric_definitions,
    sample_hyperparameters,
    say,
    step,
)
from lifecycle.project import hosting as program_hosting
from lifecycle.resources import DELETIONS, Resources, delete, wait_for
from lifecycle.spot import Stopping


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
    backend: Backend,
    name: str,
    image: str,
    uris: dict[str, str],
    instances: int = 1,
    environment: dict | None = None,
    stopping: Stopping | None = None,
    hyperparameters: dict[str, str] | None = None,
    output: str = "model",
) -> dict:
    """CreateTrainingJob's arguments: the sample hyperparameters (or these), metrics.py's regexes,
    the stopping condition and managed spot (spot.py); the model goes to the run's output/ folder."""
    return dict(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(),
        },
        RoleArn=backend.role_arn,
        HyperParameters=sample_hyperparameters() if hyperparameters is None else hyperparameters,
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
        OutputDataConfig={"S3OutputPath": backend.storage.folder_uri(output)},
        ResourceConfig={
            "InstanceType": backend.training_instance_type,
            "InstanceCount": instances,
            "VolumeSizeInGB": 10,
        },
        **(stopping or Stopping()).request(backend.storage),
        Environment={**(environment or {}), **(stopping or Stopping()).environment()},
    )


def local_failure_reason(output_uri: str) -> str | None:
    """What the container wrote to /opt/ml/output/failure; local mode packs it in output.tar.gz
    in the job's output folder (a file:// URI)."""
    try:
        with tarfile.open(Path(output_uri.removeprefix("file://")) / "output.tar.gz") as archive:
            member = archive.extractfile("failure")
            return member.read().decode("utf-8", "replace").strip() if member else None
    except (OSError, KeyError, tarfile.TarError):
        return None


def train(backend: Backend, request: dict, resources: Resources) -> str:
    """Runs a training_request() and returns its model artifact."""
    name = request["TrainingJobName"]
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]
    resource = request["ResourceConfig"]
    step(f"training job {name}")
    say(
        f"    image {request['AlgorithmSpecification']['TrainingImage']}"
        f" on {resource['InstanceCount']} x {resource['InstanceType']}"
    )
    say(f"    hyperparameters {json.dumps(request['HyperParameters'])}")
    say(f"    {len(definitions)} MetricDefinitions: {', '.join(d['Name'] for d in definitions)}")
    if request.get("EnableManagedSpotTraining"):
        stopping, checkpoints = request["StoppingCondition"], request["CheckpointConfig"]
        say(
            f"    managed spot: MaxWaitTimeInSeconds {stopping['MaxWaitTimeInSeconds']},"
            f" checkpoints {checkpoints['LocalPath']} <-> {checkpoints['S3Uri']}"
        )
    resources.running_jobs.append(("training", name))
    try:
        backend.sagemaker.create_training_job(**request)
    except RuntimeError as exc:  # local mode runs the whole job in the call, and raises if it fails
        if backend.local is None:
            raise
        reason = local_failure_reason(request["OutputDataConfig"]["S3OutputPath"]) or exc
        raise StepFailed(f"training job {name} failed: {reason}") from exc
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


def batch_transform(
    backend: Backend, name: str, image: str, artifact: str, uris: dict[str, str], resources: Resources
) -> dict[str, str]:
    # Batch gets a model of its own, single-model with batch's limits (contract/hosting.py):
    # the endpoint's model carries its mode's (serverless: 4 MB bodies, below the 6 MB records
    # sent here), and a MultiModel container cannot run a transform job.
    model = derived_name(name, "batch")
    environment = program_hosting().MODES["batch"].environment()
    step(f"model {model} (batch), Environment {json.dumps(environment)}")
    backend.sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={"Image": image, "ModelDataUrl": artifact, "Environment": environment},
        ExecutionRoleArn=backend.role_arn,
    )
    resources.batch_model = model

    step(f"batch transform {name}: {uris['batch']}")
    output = "transform"
    resources.running_jobs.append(("transform", name))
    backend.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
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
    """Stops a training, transform or tuning job that an interruption or an error left running."""
    key = {"training": "TrainingJob", "transform": "TransformJob", "tuning": "HyperParameterTuningJob"}[kind]
    call = {"training": "training_job", "transform": "transform_job", "tuning": "hyper_parameter_tuning_job"}[kind]
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
    problems += delete(backend, resources, *DELETIONS)
    if backend.front is not None:
        backend.front.stop()
    if backend.local is not None:
        problems += backend.local.cleanup()
        for removed in backend.local.removed:
            say(f"    removed {removed}")
    return problems
