"""SageMaker's serving contract, written once and run against both ways `serve` runs: a host
process (`make test`) and the image in a container (`make test-container`, marked container).

Each backend serves a model it trained itself: the host's `train` for the host, the image's
`docker run IMAGE train` for the container. What only one of them can show stays in its own
file: codec details in test_serve.py, the image's configuration and mounts in test_container.py.
"""

import io
import json
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import PAYLOAD, TABLE, TEST_DIR, TEXT, json_cells, load_model, process_table, read_rows
from endpoints import ContainerEndpoint, HostEndpoint, gunicorn_master, poll, workers

from contract import hosting

BODY_LIMIT = 6_291_456  # InvokeEndpoint's largest real-time body
STOP_SECONDS = 30  # SageMaker sends SIGKILL 30 s after SIGTERM
CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module", params=["host", pytest.param("container", marks=pytest.mark.container)])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def opt_ml(backend, request, tmp_path_factory) -> Path:
    """/opt/ml after training on the sample data, by the backend's own `train`."""
    if backend == "host":
        return request.getfixturevalue("trained")
    image = request.getfixturevalue("image")
    root = tmp_path_factory.mktemp("image-trained") / "opt_ml"
    shutil.copytree(TEST_DIR / "input", root / "input")
    result = subprocess.run(["docker", "run", "--rm", "-v", f"{root}:/opt/ml", image, "train"],
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def predictions(opt_ml) -> list[str]:
    """What that model predicts for the sample payload, one CSV line per row (numpy's text of each value:
    a float32 prediction in float32's shortest digits, as the CSV answer writes it)."""
    return [str(value) for value in load_model(opt_ml / "model").predict(read_rows(PAYLOAD))]


@pytest.fixture
def serve(backend, opt_ml, request, tmp_path):
    """serve(opt_ml=..., wait_healthy=True, **env) -> an endpoint; all of them removed at the end."""
    started = []

    def start(model_root: Path | None = None, wait_healthy: bool = True, **env):
        root = model_root or opt_ml
        if backend == "host":
            endpoint = HostEndpoint(root, tmp_path, wait_healthy, **env)
        else:
            endpoint = ContainerEndpoint(request.getfixturevalue("image"), root, wait_healthy, **env)
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:  # and nothing of theirs outlives them, whatever the test did
        tree = endpoint.processes() if endpoint.running() else []
        endpoint.remove()
        assert still_running(endpoint, tree) == [], f"left running after the test: {still_running(endpoint, tree)}"


@pytest.fixture(scope="module")
def endpoint(backend, opt_ml, request, tmp_path_factory):
    """One endpoint with the default settings, for the tests that only send requests."""
    if backend == "host":
        running = HostEndpoint(opt_ml, tmp_path_factory.mktemp("logs"))
    else:
        running = ContainerEndpoint(request.getfixturevalue("image"), opt_ml)
    yield running
    tree = running.processes()
    running.remove()
    assert still_running(running, tree) == []


def post(endpoint, body, headers=None, timeout: float = 60) -> requests.Response:
    return requests.post(endpoint.url + "/invocations", data=body, headers=headers or CSV, timeout=timeout)


def test_ping_is_200_with_an_empty_body_and_fast(endpoint):
    started = time.monotonic()
    response = requests.get(endpoint.url + "/ping", timeout=2)
    assert response.status_code == 200
    assert response.content == b""
    assert time.monotonic() - started < 2


def test_metadata_says_what_the_model_offers(endpoint, opt_ml):
    """GET /metadata, through nginx (for you and your tests: SageMaker routes only /ping and /invocations)."""
    response = requests.get(endpoint.url + "/metadata", timeout=10)
    assert response.status_code == 200, response
    meta, body = json.loads((opt_ml / "model" / "model.json").read_text()), response.json()
    assert (body["task"], body["classes"], body["n_features"]) == (meta["task"], meta["classes"], meta["n_features"])
    assert body["offers"] == meta["offers"] and "text/csv" in body["accept_types"]
    assert body["offers"]["probabilities"] == load_model(opt_ml / "model").has_probabilities


@pytest.mark.parametrize("media_type", ["text/csv", "application/json", "application/x-npy"])
def test_predictions_round_trip_in_each_type(endpoint, opt_ml, predictions, media_type):
    rows = read_rows(PAYLOAD)
    if media_type == "text/csv":
        body = PAYLOAD.read_bytes()
    elif media_type == "application/json":
        body = json.dumps(json_cells(rows)).encode()
    elif TABLE:
        pytest.skip("a table model's columns go by name: .npy is refused with a reason (tests/test_tables.py)")
    else:
        buffer = io.BytesIO()
        np.save(buffer, rows.astype(str) if TEXT else rows, allow_pickle=False)
        body = buffer.getvalue()
    response = post(endpoint, body, {"Content-Type": media_type, "Accept": media_type})
    assert response.status_code == 200, response
    assert response.headers["Content-Type"].startswith(media_type)
    if media_type == "text/csv":
        assert response.text.splitlines() == predictions
    elif media_type == "application/json":
        assert response.json()["predictions"] == load_model(opt_ml / "model").predict(rows).tolist()
    else:
        assert [str(v) for v in np.load(io.BytesIO(response.content), allow_pickle=False)] == predictions


@pytest.mark.parametrize(
    "headers, body, status",
    [
        ({"Content-Type": "image/png"}, None, 415),
        ({"Content-Type": "text/csv", "Accept": "text/html"}, None, 406),
        ({"Content-Type": "text/csv"}, b"", 400),
        ({"Content-Type": "application/json"}, b"[1, 2", 400),
    ],
)
def test_errors_get_their_status_a_json_reason_and_the_server_stays_healthy(endpoint, headers, body, status):
    response = post(endpoint, PAYLOAD.read_bytes() if body is None else body, headers)
    assert response.status_code == status, response
    assert response.json()["error"]
    assert requests.get(endpoint.url + "/ping", timeout=2).status_code == 200


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/admin"), ("GET", "/invocations"), ("POST", "/ping")])
def test_only_the_contract_paths_are_exposed_and_no_version_is_shown(endpoint, method, path):
    response = requests.request(method, endpoint.url + path, timeout=5)
    assert response.status_code == (404 if path not in ("/invocations", "/ping") else 405), response
    assert response.json()["error"]
    assert response.headers.get("Server") == "nginx"  # server_tokens off: no version


def test_a_6_mb_body_is_answered_row_for_row(endpoint, predictions):
    lines = PAYLOAD.read_text().splitlines()
    count = 0
    size = 0
    while size + len(lines[count % len(lines)]) + 1 <= BODY_LIMIT:
        size += len(lines[count % len(lines)]) + 1
        count += 1
    body = "".join(lines[i % len(lines)] + "\n" for i in range(count)).encode()
    response = post(endpoint, body)
    assert response.status_code == 200, response
    assert response.text.splitlines() == [predictions[i % len(predictions)] for i in range(count)]


def test_execution_parameters_fit_batch_transforms_limits(endpoint):
    response = requests.get(endpoint.url + "/execution-parameters", timeout=2)
    assert response.status_code == 200
    params = response.json()
    assert params["BatchStrategy"] in ("MULTI_RECORD", "SINGLE_RECORD")
    assert 1 <= params["MaxPayloadInMB"] <= 100
    assert params["MaxConcurrentTransforms"] * params["MaxPayloadInMB"] <= 100


def test_a_batch_transform_job_gets_its_settings_back_and_one_line_per_record(serve, predictions):
    batch = {"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "5", "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD"}
    endpoint = serve(SAGEMAKER_MODEL_SERVER_WORKERS=1, **batch)
    params = requests.get(endpoint.url + "/execution-parameters", timeout=2).json()
    assert params["MaxPayloadInMB"] == 5 and params["BatchStrategy"] == "MULTI_RECORD"
    repeats = min(500, params["MaxPayloadInMB"] * hosting.MB // len(PAYLOAD.read_bytes()))  # in bytes: rows may be wide
    body = PAYLOAD.read_bytes() * repeats
    assert repeats > 1 and len(body) <= params["MaxPayloadInMB"] * hosting.MB
    response = post(endpoint, body, {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert response.status_code == 200, response
    assert response.text.splitlines() == predictions * repeats


@pytest.mark.deep
def test_the_port_follows_sagemaker_bind_to_port_on_the_right_interfaces(serve, backend):
    port = {"SAGEMAKER_BIND_TO_PORT": 9191} if backend == "container" else {}  # the host's: a free one
    endpoint = serve(SAGEMAKER_MODEL_SERVER_WORKERS=1, **port)
    # Host: loopback only, on the port the test chose; container: every interface, as SageMaker needs.
    assert endpoint.listening() == {f"{endpoint.address}:{endpoint.port}"}


@pytest.mark.deep
@pytest.mark.parametrize("variable", ["SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS"])
def test_worker_count_and_timeout_follow_the_environment(serve, variable):
    endpoint = serve(**{"SAGEMAKER_MODEL_SERVER_WORKERS": "", variable: 3, "SAGEMAKER_MODEL_SERVER_TIMEOUT": 17})
    poll(lambda: len(workers(endpoint)) == 3, 30, "not 3 gunicorn workers")
    processes = endpoint.processes()
    gunicorn = next(p for p in processes if "gunicorn" in p["command"] and "--timeout" in p["command"])
    assert re.search(r"--timeout 17\b", gunicorn["command"]), gunicorn["command"]
    nginx = next(p for p in processes if p["command"].startswith("nginx: master"))
    config = endpoint.read(re.search(r"-c (\S+)", nginx["command"]).group(1))
    assert "proxy_read_timeout 17s;" in config  # nginx waits as long as gunicorn


@pytest.mark.deep
def test_a_killed_worker_is_replaced_and_every_worker_answers(serve, predictions):
    endpoint = serve(SAGEMAKER_MODEL_SERVER_WORKERS=3)
    before = poll(lambda: (w := workers(endpoint)) and len(w) == 3 and w, 30, "no 3 workers")
    endpoint.kill(before[0])
    poll(lambda: (w := workers(endpoint)) and len(w) == 3 and before[0] not in w, 30, "the worker was not replaced")
    for _ in range(9):  # enough requests to reach every worker
        response = post(endpoint, PAYLOAD.read_bytes())
        assert response.status_code == 200, response
        assert response.text.splitlines() == predictions
    assert endpoint.running()


@pytest.mark.deep
@pytest.mark.parametrize("damage", ["missing", "truncated", "wrong framework"])
def test_a_bad_model_gives_a_503_ping_with_its_reason_and_no_crash_loop(serve, opt_ml, tmp_path, damage):
    broken = tmp_path / "broken" / "opt_ml"
    broken.mkdir(parents=True)
    (broken / "model").mkdir()
    if damage != "missing":
        shutil.copytree(opt_ml / "model", broken / "model", dirs_exist_ok=True)
    if damage == "truncated":
        for artifact in (broken / "model").iterdir():  # every file model.py's save wrote
            if artifact.name != "model.json":
                artifact.write_bytes(artifact.read_bytes()[:100])
    elif damage == "wrong framework":
        meta = json.loads((broken / "model" / "model.json").read_text())
        (broken / "model" / "model.json").write_text(json.dumps(dict(meta, framework="something-else")))
    endpoint = serve(broken, wait_healthy=False, SAGEMAKER_MODEL_SERVER_WORKERS=1)
    response = requests.get(endpoint.url + "/ping", timeout=2)
    assert response.status_code == 503, response
    reason = response.json()["error"]
    before = workers(endpoint)
    time.sleep(2)  # long enough for a crash loop to show
    assert post(endpoint, PAYLOAD.read_bytes()).status_code == 503
    assert endpoint.running() and workers(endpoint) == before, "workers keep restarting"
    assert reason and "model not loaded" in endpoint.logs()  # the operator sees why in CloudWatch


class Upload(io.BytesIO):
    """A request body that tells when the client has sent its last byte."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.sent = threading.Event()

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        if not chunk:
            self.sent.set()
        return chunk


@pytest.mark.deep
def test_sigterm_finishes_the_request_in_flight_then_exits_0_leaving_nothing(serve, predictions):
    endpoint = serve(SAGEMAKER_MODEL_SERVER_WORKERS=1)
    # Seconds of work for one worker: a batch of 1 M rows, or of as many as half the body limit
    # holds (wide rows would be 413 otherwise). The limit is in bytes: MAX_BODY_MB's default.
    payload = PAYLOAD.read_bytes()
    repeats = max(1, min(1_000_000 // len(predictions), hosting.DEFAULT_BODY_MB * hosting.MB // 2 // len(payload)))
    upload = Upload(payload * repeats)
    tree = endpoint.processes()
    result = {}

    def call():
        try:
            result["response"] = post(endpoint, upload, timeout=120)
        except requests.RequestException as exc:
            result["error"] = exc
        result["at"] = time.monotonic()

    caller = threading.Thread(target=call)
    caller.start()
    assert upload.sent.wait(30), "the request body was not sent"
    started = time.monotonic()
    assert endpoint.stop(signal.SIGTERM, timeout=STOP_SECONDS + 10) == 0, endpoint.logs()
    assert time.monotonic() - started < STOP_SECONDS
    caller.join(60)
    assert "error" not in result, result.get("error")
    assert result["at"] > started, "the request finished before the stop: make the body bigger"
    assert result["response"].status_code == 200
    lines = result["response"].text.splitlines()
    assert len(lines) == repeats * len(predictions) and lines[: len(predictions)] == predictions
    assert still_running(endpoint, tree) == []


@pytest.mark.deep
@pytest.mark.parametrize("victim", ["nginx", "gunicorn"])
def test_serve_exits_non_zero_when_nginx_or_gunicorn_dies_leaving_nothing(serve, victim):
    endpoint = serve(SAGEMAKER_MODEL_SERVER_WORKERS=2)
    poll(lambda: len(workers(endpoint)) == 2, 30, "not 2 gunicorn workers")
    tree = endpoint.processes()
    nginx = next(p for p in tree if p["command"].startswith("nginx: master"))
    master = nginx if victim == "nginx" else gunicorn_master(tree)
    endpoint.kill(master["pid"])
    assert endpoint.wait(timeout=30) != 0
    assert f"{victim} exited" in endpoint.logs()
    # The killed master's workers too: they would keep the port, or the socket, open.
    assert still_running(endpoint, tree) == []


def still_running(endpoint, tree: list[dict], grace: float = 5) -> list[str]:
    """Which of the server's processes outlived it (a container takes all of its own with it)."""
    if isinstance(endpoint, ContainerEndpoint):
        return [] if not endpoint.running() else ["the container"]
    deadline = time.monotonic() + grace  # a SIGKILL already sent takes a moment
    while True:
        alive = {p["pid"] for p in process_table()}
        left = [p["command"] or str(p["pid"]) for p in tree if p["pid"] in alive]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)
