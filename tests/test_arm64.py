"""The arm64 half of the image, for real: build_and_push.sh pushes one manifest list (amd64 and
arm64, no attestation manifests) and the arm64 image serves, under QEMU, what the amd64 one does.

Training stays on x86 (SageMaker has no Graviton training instances): the model trained by the
amd64 image is served by both. Everything runs here: a moto server answers ECR, Debian's
docker-registry holds the pushes, scripts/qemu.sh (run by scripts/test.sh) lets the engine run
aarch64 binaries, and scripts/base_image.sh makes the arm64 base. Random host ports and names
of its own: it shares nothing with the "docker" group and runs beside it.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import DEFAULTS, REPORT, ROOT, VENV_BIN

# The emulated build takes tens of minutes on two busy cores (apt's and pip's byte-compiling
# run under QEMU): more than the suite's default timeout.
pytestmark = [pytest.mark.container, pytest.mark.xdist_group("arm64"), pytest.mark.timeout(3600)]

BASE = DEFAULTS["base_image"]
NAME = "byoc-arm64"  # the ECR repository, and the local image the script tags
TAG = "arm64-test"
LIST_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
IMAGE_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")


def sh(*cmd: str, timeout: float = 900, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check:
        assert result.returncode == 0, f"{' '.join(cmd[:4])} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, alive, log) -> float:
    """Seconds until url answers 200; fails with log() if alive() turns false or time runs out."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        assert alive(), f"ended before answering {url}:\n{log()}"
        assert time.monotonic() - started < timeout, f"no answer from {url} within {timeout} s:\n{log()}"
        time.sleep(0.2)


@contextlib.contextmanager
def server(command: list[str], url: str, log: Path):
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(url, 30, lambda: process.poll() is None, lambda: log.read_text(errors="replace"))
        yield
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def container(image: str, *args: str, platform: str, volume: str):
    """`docker run -d` on a random loopback port; yields (base URL, seconds until /ping is 200)."""
    name = f"byoc-arm64-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    # One worker: each boots Python, numpy and the model under QEMU, on cores the other tiers keep busy
    # (two took over 300 s to answer /ping in one CI run; the answer compared does not depend on it).
    published = ("-p", "127.0.0.1::8080", "-v", volume, "-e", "MODEL_SERVER_WORKERS=1")
    sh("docker", "run", "-d", "--name", name, "--platform", platform, *published, image, *args)
    try:
        host_port = sh("docker", "port", name, "8080/tcp").stdout.split()[0]
        url = f"http://{host_port}"

        def alive() -> bool:
            return sh("docker", "inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip() == "true"

        patience = 300 if platform == "linux/amd64" else 1200  # a bound on a hang, not a timing check
        wait_for(f"{url}/ping", patience, alive, lambda: sh("docker", "logs", name, check=False).stderr[-3000:])
        yield url, time.monotonic() - started
    finally:
        sh("docker", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def pushed(rendered, tmp_path_factory):
    """The default render's build_and_push.sh, run against moto and a local registry; yields
    (the image URI, the registry's host:port, the script's stderr, seconds it took)."""
    tmp = tmp_path_factory.mktemp("arm64")
    # The arm64 base: a stand-in of its own name, as the amd64 one (minutes under QEMU, once a machine).
    sh(str(ROOT / "scripts" / "base_image.sh"), "--platform", "linux/arm64", BASE, timeout=1800)
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/docker_engine.sh installs it)"
    port, moto_port = free_port(), free_port()
    host = f"127.0.0.1:{port}"
    (tmp / "registry.yml").write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n"
        f"http:\n  addr: {host}\n  secret: {uuid.uuid4().hex}\n"
    )
    moto = f"http://127.0.0.1:{moto_port}"
    base_list = f"{host}/debian:{BASE.split(':')[1]}"
    bases = [f"{base_list}-amd64", f"{base_list}-arm64"]
    uri = f"{host}/{NAME}:{TAG}"
    made = [*bases, base_list, uri, f"{uri}-amd64", f"{uri}-arm64"]  # local tags, removed at the end
    docker_config = tmp / "docker-config"
    docker_config.mkdir()
    with (
        server([binary, "serve", str(tmp / "registry.yml")], f"http://{host}/v2/", tmp / "registry.log"),
        server(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            f"{moto}/moto-api/",
            tmp / "moto.log",
        ),
    ):
        try:
            # Both base images behind one name, as Docker Hub serves debian:trixie-slim: each
            # architecture's build pulls its own (Docker 20.10 keeps one image per local name).
            client_env = dict(os.environ, DOCKER_CONFIG=str(docker_config))
            for arch, local in (("amd64", BASE), ("arm64", f"{BASE}-arm64")):
                sh("docker", "tag", local, f"{base_list}-{arch}")
                sh("docker", "push", f"{base_list}-{arch}")
            sh("docker", "manifest", "create", "--insecure", base_list, *bases, env=client_env)
            sh("docker", "manifest", "push", "--insecure", "--purge", base_list, env=client_env)

            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
            env.update(
                PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
                AWS_ENDPOINT_URL=moto,
                AWS_ACCESS_KEY_ID="fake",
                AWS_SECRET_ACCESS_KEY="fake",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_CONFIG_FILE=os.devnull,
                AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                AWS_EC2_METADATA_DISABLED="true",
                REGISTRY_HOST=host,
                DOCKER_CONFIG=str(docker_config),
                TAG=TAG,
                BASE_IMAGE=base_list,
            )
            env.pop("PLATFORMS", None)  # the rendered default: both
            started = time.monotonic()
            push = sh(str(rendered() / "build_and_push.sh"), NAME, env=env, timeout=3600)
            seconds = time.monotonic() - started
            assert push.stdout.splitlines() == [uri], push.stdout + push.stderr
            yield uri, host, push.stderr, seconds
        finally:
            # The arm64 image keeps a local name, as the amd64 one does (NAME): the layer cache,
            # so that a second run on this machine rebuilds only what changed.
            sh("docker", "tag", f"{uri}-arm64", f"{NAME}:arm64", check=False)
            for reference in made:
                sh("docker", "rmi", reference, check=False)


def test_one_manifest_list_of_amd64_and_arm64_without_attestations(pushed):
    uri, host, log, seconds = pushed
    accept = {"Accept": ", ".join(LIST_TYPES)}
    answer = requests.get(f"http://{host}/v2/{NAME}/manifests/{TAG}", headers=accept, timeout=10)
    answer.raise_for_status()
    index = answer.json()
    assert index["mediaType"] == LIST_TYPES[0], index
    entries = index["manifests"]
    # Attestations would show as extra entries: platform unknown/unknown, a reference-type annotation.
    assert sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in entries) == [
        ("linux", "amd64"),
        ("linux", "arm64"),
    ], entries
    assert all(m["mediaType"] in IMAGE_TYPES and not m.get("annotations") for m in entries), entries
    built = {m["platform"]["architecture"]: m for m in entries}
    assert built["arm64"]["platform"].get("variant") == "v8"
    for arch, entry in built.items():  # each entry is the image that was pushed for it
        accept = {"Accept": ", ".join(IMAGE_TYPES)}
        head = requests.head(f"http://{host}/v2/{NAME}/manifests/{TAG}-{arch}", headers=accept, timeout=10)
        assert head.headers["Docker-Content-Digest"] == entry["digest"]
    arm64_build = re.search(r"for linux/arm64 in (\d+) s", log)
    assert arm64_build, log
    REPORT.append(
        f"arm64: build_and_push.sh, both architectures {seconds:.0f} s (arm64 build under QEMU {arm64_build[1]} s)"
    )


def test_the_arm64_image_serves_under_emulation_what_the_amd64_one_does(pushed, rendered, tmp_path):
    uri = pushed[0]
    project = rendered()
    sh("docker", "pull", "--platform", "linux/arm64", uri)  # the list resolves to its arm64 entry
    assert sh("docker", "image", "inspect", "-f", "{{.Architecture}}", uri).stdout.strip() == "arm64"
    assert sh("docker", "run", "--rm", "--platform", "linux/arm64", uri, "uname", "-m").stdout.strip() == "aarch64"

    # Trained once, on x86 as on SageMaker; the model files are the same for both architectures.
    opt_ml = tmp_path / "opt_ml"
    shutil.copytree(project / "local_test" / "test_dir" / "input", opt_ml / "input")
    (opt_ml / "model").mkdir()
    (opt_ml / "output").mkdir()
    amd64 = f"{uri}-amd64"
    sh("docker", "run", "--rm", "--platform", "linux/amd64", "-v", f"{opt_ml}:/opt/ml", amd64, "train")
    payload = (project / "local_test" / "payload.csv").read_bytes()
    volume = f"{opt_ml / 'model'}:/opt/ml/model:ro"
    answers = {}
    for platform, image in (("linux/arm64", uri), ("linux/amd64", amd64)):
        with container(image, "serve", platform=platform, volume=volume) as (url, to_ping):
            csv = {"Content-Type": "text/csv"}
            response = requests.post(f"{url}/invocations", data=payload, headers=csv, timeout=120)
            assert response.status_code == 200, response.text
            answers[platform] = (response.headers["Content-Type"], response.content)
            if platform == "linux/arm64":
                arm64_ping = to_ping
    assert answers["linux/arm64"] == answers["linux/amd64"]
    size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", uri).stdout)
    amd64_size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", amd64).stdout)
    REPORT.append(
        f"arm64: image {size / 1e6:.0f} MB (amd64 {amd64_size / 1e6:.0f} MB); serve start to /ping 200 "
        f"under QEMU {arm64_ping:.1f} s; one /invocations answer equal to the amd64 image's"
    )
