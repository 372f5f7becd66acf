"""One timeout and one body limit per hosting mode (contract/hosting.py), and where each goes:
nginx's configuration and gunicorn's command line in a running `serve`, Flask's own limit, and
the model's Environment in the lifecycle's deploy call."""

import re
import socket
import sys
from pathlib import Path

import pytest
import requests
from conftest import FIGURES, PROJECT, SAMPLE_ROW
from endpoints import ContainerEndpoint, HostEndpoint, gunicorn_master, workers

from contract import hosting

pytestmark = pytest.mark.deep  # each hosting mode's limits in nginx, gunicorn and the deploy calls (make test-all)

# One mode for each distinct set of limits (real-time, multi-model and inference components share theirs).
MODES = sorted({limits: mode for mode, limits in sorted(hosting.MODES.items())}.values())


def running_settings(endpoint: HostEndpoint) -> dict:
    """What the running servers were given: nginx's configuration file, gunicorn's arguments."""
    processes = endpoint.processes()
    nginx = next(p["command"].split() for p in processes if p["command"].startswith("nginx") and " -c " in p["command"])
    config = Path(nginx[nginx.index("-c") + 1]).read_text()
    gunicorn = gunicorn_master(processes)["command"].split()
    return {
        "nginx_body": re.search(r"client_max_body_size (\d+)m;", config).group(1),
        "nginx_read_timeout": re.search(r"proxy_read_timeout (\d+)s;", config).group(1),
        "nginx_send_timeout": re.search(r"proxy_send_timeout (\d+)s;", config).group(1),
        "gunicorn_timeout": gunicorn[gunicorn.index("--timeout") + 1],
        "gunicorn_workers": gunicorn[gunicorn.index("--workers") + 1],
        "gunicorn_socket": gunicorn[gunicorn.index("--bind") + 1].removeprefix("unix:"),
    }


def deploy_environment(mode: str) -> dict[str, str]:
    """The Environment sagemaker_lifecycle.py's CreateModel gives the model in this hosting mode."""
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from lifecycle import endpoints

    if mode == "batch":  # batch_transform's own model
        return endpoints.program_hosting().MODES["batch"].environment()
    request = endpoints.model_container(None, "image", "s3://bucket/model.tar.gz", endpoints.Hosting(mode=mode))
    return request["Environment"]


@pytest.mark.parametrize("mode", MODES)
def test_a_modes_limits_reach_the_deploy_call_nginx_and_gunicorn(mode, trained, tmp_path):
    """One setting each, from the deploy call's Environment to the servers it starts."""
    limits = hosting.MODES[mode]
    deployed = deploy_environment(mode)
    assert deployed == limits.environment()
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "", **deployed}  # the mode's own worker count, if any
    endpoint = HostEndpoint(trained, tmp_path, **env)
    try:
        found = running_settings(endpoint)
    finally:
        endpoint.remove()
    assert found["nginx_body"] == str(limits.body_mb)
    assert found["nginx_read_timeout"] == found["nginx_send_timeout"] == str(limits.timeout_seconds)
    assert found["gunicorn_timeout"] == str(limits.timeout_seconds)
    if limits.workers is not None:
        assert found["gunicorn_workers"] == str(limits.workers)


def test_the_body_limit_is_enforced_by_nginx_and_by_flask_behind_it(trained, tmp_path):
    """MAX_BODY_MB=1: a 1.5 MB body is refused by nginx, and by the Flask app even when it is sent
    straight to gunicorn's socket (so no way in takes more than the setting)."""
    endpoint = HostEndpoint(trained, tmp_path, MAX_BODY_MB="1")
    try:
        small = SAMPLE_ROW * (900 * 1024 // len(SAMPLE_ROW))
        big = SAMPLE_ROW * (1536 * 1024 // len(SAMPLE_ROW))
        headers = {"Content-Type": "text/csv"}
        assert requests.post(endpoint.url + "/invocations", data=small, headers=headers, timeout=60).status_code == 200
        refused = requests.post(endpoint.url + "/invocations", data=big, headers=headers, timeout=60)
        assert refused.status_code == 413 and "1 MB (MAX_BODY_MB)" in refused.json()["error"]
        gunicorn = running_settings(endpoint)["gunicorn_socket"]
        assert status_through_socket(gunicorn, big) == 413
        assert status_through_socket(gunicorn, small) == 200
    finally:
        endpoint.remove()


def status_through_socket(path: str, body: bytes) -> int:
    """One POST /invocations over gunicorn's unix socket, bypassing nginx. A body over Flask's limit
    is refused from its Content-Length alone, so only its first bytes are sent (gunicorn closes the
    connection on the rest, unread)."""
    head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {len(body)}\r\n"
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(60)
        client.connect(path)
        client.sendall(head.encode() + b"Connection: close\r\n\r\n" + body[: 1024 if len(body) > 2**20 else None])
        answer = client.recv(65536)
    return int(answer.split(b" ", 2)[1])


def test_the_default_limits_are_batch_transforms_body_and_the_real_time_timeout():
    assert hosting.DEFAULT_BODY_MB == hosting.MODES["batch"].body_mb
    assert hosting.DEFAULT_TIMEOUT_SECONDS == hosting.MODES["realtime"].timeout_seconds
    assert hosting.MODES["realtime"].body_bytes == 6_291_456  # InvokeEndpoint's Body: max 6 MB
    assert hosting.MODES["async"].timeout_seconds == 3600  # InvokeEndpointAsync's InvocationTimeoutSeconds


@pytest.mark.container
def test_serverless_runs_one_worker_in_1_gb_with_its_largest_request(image, trained):
    """Serverless inference starts at 1024 MB: the image with the serverless Environment, in a
    container of exactly that size, answers its largest request (4 MB) with one worker; the
    memory peak is measured by the container's own cgroup."""
    limits = hosting.MODES["serverless"]
    options = ["--memory", "1g", "--memory-swap", "1g"]
    endpoint = ContainerEndpoint(image, trained, options=options, prefix="byoc-serverless", **limits.environment())
    try:
        assert len(workers(endpoint)) == 1
        body = SAMPLE_ROW * (limits.body_bytes // len(SAMPLE_ROW))
        for _ in range(3):
            response = requests.post(endpoint.url + "/invocations", data=body, headers=CSV, timeout=120)
            assert response.status_code == 200, response.text[:500]
            assert len(response.text.splitlines()) == body.count(b"\n")
        peak = int(endpoint.read_first(PEAK_FILES))
        state = endpoint.inspect()["State"]
    finally:
        endpoint.remove()
    assert not state["OOMKilled"]
    assert peak < 1024 * hosting.MB
    FIGURES.append(f"serverless: 1 worker, memory peak {peak / hosting.MB:.0f} MiB of 1024 with three 4 MB requests")


PEAK_FILES = ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes")  # cgroup v2, v1
CSV = {"Content-Type": "text/csv"}
