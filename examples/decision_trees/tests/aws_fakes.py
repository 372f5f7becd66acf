"""Loopback stand-ins for AWS, for the container tests of build_and_push.sh and sagemaker_lifecycle.py.

A moto server answers the AWS APIs (STS, ECR, S3, SageMaker); Debian's `docker-registry`
(distribution 2.8) stands in for ECR's registry, since moto's fake ECR host name does not
resolve. Each listens on a free 127.0.0.1 port and stops when its `with` block ends.
"""

import base64
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import PROJECT, docker, free_port, require_tool, wait_for_answer

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
SECRET_ACCESS_KEY = "fake-secret-" + uuid.uuid4().hex  # must never appear in any output
VENV_BIN = Path(sys.executable).parent  # moto_server and aws live beside the test interpreter
# These tests build for the engine's own architecture only (PLATFORMS overrides the
# rendered two): an emulated build takes minutes. test_build_and_push checks that the script
# refuses to push an image of the wrong architecture; the template's own tests push the
# multi-arch image under QEMU.
NATIVE_ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64"}.get(
    platform.machine().lower(), platform.machine().lower()
)
BUILD_PLATFORM = f"linux/{NATIVE_ARCHITECTURE}"


@contextlib.contextmanager
def _running(command: list[str], url: str, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_answer(url, 30, lambda: process.poll() is None, lambda: log.read_text(errors="replace"))
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """A moto server on 127.0.0.1; yields its endpoint URL (for AWS_ENDPOINT_URL)."""
    binary = require_tool("moto_server", "pip install 'moto[server]'")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _running([binary, "-H", "127.0.0.1", "-p", str(port)], f"{url}/moto-api/", log_dir / "moto.log"):
        yield url


@contextlib.contextmanager
def registry(root: Path) -> Iterator[str]:
    """A Docker registry on 127.0.0.1 storing under root; yields its host:port.

    Docker treats 127.0.0.0/8 as an insecure registry by default: plain HTTP, no TLS.
    """
    binary = require_tool("docker-registry", "Debian: apt-get install docker-registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {uuid.uuid4().hex}\n"
    )
    try:
        with _running([binary, "serve", str(config)], f"http://127.0.0.1:{port}/v2/", root / "registry.log"):
            yield f"127.0.0.1:{port}"
    finally:
        shutil.rmtree(root / "storage", ignore_errors=True)  # a pushed image is hundreds of MB


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a process that must reach only the moto server, never AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_")) and k not in ("TAG",)}
    env.update(
        PATH=os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]),
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="fakeaccesskey",
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def client(service: str, endpoint: str):
    """A boto3 client of the test's own, on a Session apart from the default one (the one a
    script under test records its requests in)."""
    import boto3

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="fakeaccesskey",
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def ecr_password(endpoint: str) -> str:
    """What `aws ecr get-login-password` prints: the secret build_and_push.sh must not show."""
    token = client("ecr", endpoint).get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().split(":", 1)[1]


@dataclass
class Push:
    result: subprocess.CompletedProcess
    output: str  # stdout and stderr

    @property
    def uri(self) -> str:
        lines = self.result.stdout.splitlines()
        return lines[-1] if lines else ""


def build_and_push(
    project: Path, endpoint: str, registry_host: str, docker_config: Path, *args: str, **env: str
) -> Push:
    """Runs the project's real build_and_push.sh against moto and the registry."""
    docker_config.mkdir(parents=True, exist_ok=True)  # `docker login` writes here, not to ~/.docker
    env = {"PLATFORMS": BUILD_PLATFORM, **env}
    result = subprocess.run(
        [str(project / "build_and_push.sh"), *args],
        env=aws_env(endpoint, REGISTRY_HOST=registry_host, DOCKER_CONFIG=str(docker_config), **env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return Push(result, result.stdout + result.stderr)


def pull_back(uri: str) -> str:
    """Drops the local tag and pulls it from the registry again; returns the image ID."""
    docker("rmi", uri)
    docker("pull", uri)
    return image_details(uri)["Id"]


def image_details(reference: str) -> dict:
    return json.loads(docker("image", "inspect", reference).stdout)[0]


def copy_project(tmp_path: Path) -> Path:
    """A copy of the project to change freely (its git state, its sample files)."""
    target = tmp_path / PROJECT.name
    ignore = shutil.ignore_patterns(".git", ".venv", ".sagemaker", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(PROJECT, target, ignore=ignore)
    return target
