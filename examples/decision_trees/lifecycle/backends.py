"""What differs between SageMaker and SDK local mode (clients, storage, instance types), and
the Docker containers and network local mode leaves behind."""

import argparse
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from lifecycle.project import ECR_IMAGE, StepFailed, say
from lifecycle.storage import LocalStorage, S3Storage

LOCAL_NETWORK = "sagemaker-local"  # the one Docker network SDK local mode puts every container on
COMPOSE_DIR_LABEL = "com.docker.compose.project.working_dir"
TELEMETRY_OPT_OUT = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


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
    runtime: Any  # invoke_endpoint (and invoke_endpoint_async on SageMaker)
    storage: S3Storage | LocalStorage
    role_arn: str
    training_instance_type: str
    hosting_instance_type: str
    poll_seconds: int
    local: LocalDocker | None = None
    autoscaling: Any = None  # application-autoscaling, on SageMaker only
    front: Any = None  # local mode: lifecycle/front.py's LocalFront, stopped at cleanup


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
    storage = LocalStorage(run_dir)
    front = local_front(args, storage)
    return Backend(
        sagemaker=session.sagemaker_client,
        runtime=front.runtime_client(args.region),
        storage=storage,
        role_arn=args.role_arn or "arn:aws:iam::000000000000:role/local-mode-needs-no-role",
        training_instance_type="local",
        hosting_instance_type="local",
        poll_seconds=1,
        local=LocalDocker(container_root),
        front=front,
    )


def local_front(args: argparse.Namespace, storage: LocalStorage) -> Any:
    """SageMaker's front door in front of the local endpoint (lifecycle/front.py): the mode's body
    limit and timeout, the headers SageMaker forwards, its errors; InvokeEndpointAsync for async,
    with its answers in the run's folder. The SDK's own client would post straight to the container."""
    from lifecycle.front import LocalFront

    mode = getattr(args, "hosting", "realtime")
    locations = {}
    if mode == "async":
        locations = {
            "output_location": storage.folder_uri("async/output"),
            "failure_location": storage.folder_uri("async/failure"),
        }
    return LocalFront(f"http://localhost:{args.port}", mode, region=args.region, **locations).start()


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
        autoscaling=session.client("application-autoscaling"),
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
