"""scripts/base_image.sh takes the real image when a registry answers, and says so.

A local registry (Debian's docker-registry, as the rendered projects' push tests use) is the
registry that answers; the stand-in path is what every `make test` here takes for debian:*.
"""

import shutil
import socket
import subprocess
import time
import uuid

import pytest
import requests
from conftest import ROOT

pytestmark = pytest.mark.container
SCRIPT = ROOT / "scripts" / "base_image.sh"
DEFAULT_BASE = "debian:trixie-slim"  # present after scripts/test.sh


def sh(*cmd: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)


def test_pulls_from_a_registry_that_answers_and_labels_only_stand_ins(tmp_path):
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/docker_engine.sh installs it)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {uuid.uuid4().hex}\n"
    )
    registry = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    image = f"127.0.0.1:{port}/byoc-base:{uuid.uuid4().hex[:8]}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the local registry never answered"
                time.sleep(0.2)
        # The registry's copy is the stand-in retagged without its label: what a real base looks like.
        built = sh("docker", "build", "-q", "-t", image, "-", input=f"FROM {DEFAULT_BASE}\nLABEL byoc.base-image=\n")
        assert built.returncode == 0, built.stderr
        assert sh("docker", "push", image).returncode == 0
        assert sh("docker", "rmi", image).returncode == 0
        result = sh(str(SCRIPT), image)
        assert result.returncode == 0, result.stderr
        assert f"pulled {image} from its registry" in result.stderr
        again = sh(str(SCRIPT), image)
        assert "already present" in again.stderr and "from a registry" in again.stderr, again.stderr
        local = sh(str(SCRIPT), DEFAULT_BASE)
        assert "a local stand-in built by this script" in local.stderr, local.stderr
    finally:
        registry.terminate()
        registry.wait(10)
        sh("docker", "rmi", "-f", image)
