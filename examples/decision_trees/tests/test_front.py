"""lifecycle/front.py: SageMaker's InvokeEndpoint front door, run locally in front of the real `serve`.

Each limit is shown twice: the request passes the container sent directly, and the front
refuses it with the error a boto3 user sees on AWS, without the container seeing it. What
reaches the container is observed with a real HTTP server of this file's own (Recorder),
which records each request and passes it on to `serve`, or holds it (a container too slow).
"""

import http.client
import json
import sys
import tarfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.exceptions
import pytest
import requests
from conftest import PAYLOAD, PROJECT, SAMPLE_ROW, start_server

if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))
from lifecycle.front import HOSTING, LocalFront, runtime_client  # noqa: E402 (needs the path above)

pytestmark = pytest.mark.deep  # the local front door's own behaviour (make test-all)

MODES = HOSTING.MODES
MB = HOSTING.MB
CSV = "text/csv"


class Recorder:
    """A real HTTP server that records every request (method, path, headers, body) and passes
    it on to upstream, or, with hold set, keeps the caller waiting until release()."""

    def __init__(self, upstream: str | None = None, hold: bool = False, reply_headers: dict[str, str] | None = None):
        self.requests: list[dict] = []
        self.released = threading.Event()
        if not hold:
            self.released.set()
        target = urllib.parse.urlsplit(upstream) if upstream else None
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                recorder.released.wait(60)
                status, headers, answer = 200, reply_headers or {"Content-Type": "text/plain"}, b"an answer"
                if target is not None:
                    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                    passed = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    connection.request(self.command, self.path, body=body, headers=passed)
                    response = connection.getresponse()
                    status, headers, answer = response.status, dict(response.getheaders()), response.read()
                    connection.close()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):  # a held caller that gave up
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.requests]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder(server):
    recording = Recorder(server.url)
    yield recording
    recording.close()


def direct(server, body: bytes, content_type: str = CSV) -> requests.Response:
    return requests.post(server.url + "/invocations", data=body, headers={"Content-Type": content_type}, timeout=60)


def refused(call) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value


def body_of(size: int) -> bytes:
    """Whole sample rows, at least size bytes: a body the model would answer."""
    return SAMPLE_ROW * (size // len(SAMPLE_ROW) + 1)


# -- the body limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["realtime", "serverless"])
def test_a_body_over_the_limit_passes_the_container_but_not_the_front(server, recorder, mode):
    body = body_of(MODES[mode].body_bytes + MB)  # 7 MB real-time, 5 MB serverless
    assert direct(server, body).status_code == 200  # the container alone takes it

    with LocalFront(recorder.url, mode) as front:
        error = refused(lambda: front.runtime_client().invoke_endpoint(EndpointName="e", Body=body, ContentType=CSV))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response["Error"]["Message"].endswith("has oversize body.")
    assert str(error).startswith("An error occurred (ValidationError) when calling the InvokeEndpoint operation: ")
    assert recorder.requests == []  # refused before the container


@pytest.mark.parametrize("mode", ["realtime", "serverless"])
def test_a_body_at_the_limit_passes_the_front(server, recorder, mode):
    body = body_of(MODES[mode].body_bytes - len(SAMPLE_ROW) * 2)
    body = body[: len(body) - len(body) % len(SAMPLE_ROW)]  # whole rows, under the limit
    with LocalFront(recorder.url, mode) as front:
        answer = front.runtime_client().invoke_endpoint(EndpointName="e", Body=body, ContentType=CSV, Accept=CSV)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["Body"].read() == direct(server, body).content
    assert len(recorder.requests) == 1


# -- the timeout -------------------------------------------------------------------------------


def test_a_container_slower_than_the_timeout_gets_the_timeout_model_error():
    slow = Recorder(hold=True)  # answers only when released: slower than any timeout
    try:
        with LocalFront(slow.url, timeout_seconds=1) as front:  # the test's timeout, not hosting.py's
            client = front.runtime_client()
            error = refused(lambda: client.invoke_endpoint(EndpointName="e", Body=SAMPLE_ROW, ContentType=CSV))
    finally:
        slow.close()
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["Error"]["Message"].startswith(
        "Your invocation timed out while waiting for a response from container primary."
    )
    assert slow.paths() == ["POST /invocations"]  # it did reach the container, which was too slow


def test_the_timeout_is_the_modes():
    front = LocalFront("http://127.0.0.1:9", "realtime")
    try:
        assert front.timeout_seconds == MODES["realtime"].timeout_seconds
        assert front.body_bytes == MODES["realtime"].body_bytes
    finally:
        front.server.server_close()


# -- headers -----------------------------------------------------------------------------------


def test_only_the_headers_sagemaker_forwards_reach_the_container(recorder):
    with LocalFront(recorder.url) as front:
        client = front.runtime_client()

        def add_header(request, **kwargs):
            request.headers["X-My-Custom-Header"] = "should-not-arrive"

        client.meta.events.register("before-sign.sagemaker-runtime.InvokeEndpoint", add_header)
        answer = client.invoke_endpoint(
            EndpointName="e", Body=PAYLOAD.read_bytes(), ContentType=CSV, Accept=CSV,
            CustomAttributes="trace=1", TargetVariant="AllTraffic", InferenceId="abc",
        )  # fmt: skip
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert answer["ContentType"].startswith(CSV)
    (seen,) = recorder.requests
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert headers["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    assert headers["x-amzn-sagemaker-inference-id"] == "abc"
    assert headers["content-type"] == CSV and headers["accept"] == CSV
    for dropped in ("x-my-custom-header", "x-amzn-sagemaker-target-variant", "authorization", "x-amz-date"):
        assert dropped not in headers, seen["headers"]
    assert seen["path"] == "/invocations"


def test_the_client_header_would_reach_a_container_called_directly(recorder):
    requests.post(recorder.url + "/invocations", data=PAYLOAD.read_bytes(), timeout=60,
                  headers={"Content-Type": CSV, "X-My-Custom-Header": "arrives"})  # fmt: skip
    assert recorder.requests[0]["headers"]["X-My-Custom-Header"] == "arrives"


def test_the_answer_carries_the_containers_content_type_and_custom_attributes_only():
    container = Recorder(reply_headers={"Content-Type": "application/json", "X-Other": "stays inside",
                                        "X-Amzn-SageMaker-Custom-Attributes": "set by the model"})  # fmt: skip
    try:
        with LocalFront(container.url) as front:
            answer = front.runtime_client().invoke_endpoint(EndpointName="e", Body=SAMPLE_ROW, ContentType=CSV)
    finally:
        container.close()
    assert answer["ContentType"] == "application/json"
    assert answer["CustomAttributes"] == "set by the model"
    assert answer["Body"].read() == b"an answer"
    assert "x-other" not in answer["ResponseMetadata"]["HTTPHeaders"]


def test_a_target_model_on_a_single_model_endpoint_is_refused(recorder):
    with LocalFront(recorder.url) as front:
        error = refused(lambda: front.runtime_client().invoke_endpoint(
            EndpointName="my-endpoint", Body=SAMPLE_ROW, ContentType=CSV, TargetModel="a.tar.gz"))  # fmt: skip
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Message"] == (
        "Endpoint my-endpoint is not a multi-model endpoint and does not support target model header."
    )
    assert recorder.requests == []


def test_an_unknown_endpoint_name_is_refused(recorder):
    with LocalFront(recorder.url, endpoint_name="mine") as front:
        error = refused(lambda: front.runtime_client().invoke_endpoint(EndpointName="other", Body=SAMPLE_ROW))
    assert error.response["Error"]["Message"] == "Endpoint other of account 123456789012 not found."


# -- the container's errors --------------------------------------------------------------------


def test_a_400_from_the_container_is_a_model_error(server, recorder):
    bad = b'"never closed\n'
    assert direct(server, bad).status_code == 400
    with LocalFront(recorder.url) as front:
        error = refused(lambda: front.runtime_client().invoke_endpoint(EndpointName="ep", Body=bad, ContentType=CSV))
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.response["OriginalStatusCode"] == 400
    assert error.response["Error"]["Message"].startswith('Received client error (400) from primary with message "')
    assert "/aws/sagemaker/Endpoints/ep" in error.response["Error"]["Message"]
    assert error.response["OriginalMessage"] == direct(server, bad).text
    assert error.response["LogStreamArn"].endswith("log-group:/aws/sagemaker/Endpoints/ep")


# -- async -------------------------------------------------------------------------------------


@pytest.fixture
def async_front(recorder, tmp_path):
    with LocalFront(recorder.url, "async", output_location=(tmp_path / "out").as_uri(),
                    failure_location=(tmp_path / "failed").as_uri()) as front:  # fmt: skip
        yield front


def invoke_async(front: LocalFront, source: Path, **extra) -> dict:
    return front.runtime_client().invoke_endpoint_async(
        EndpointName="e", InputLocation=source.as_uri(), ContentType=CSV, Accept=CSV, **extra
    )


def local_path(location: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(location).path))


def test_async_answers_202_then_writes_the_output(server, async_front, tmp_path):
    source = tmp_path / "input.csv"
    source.write_bytes(PAYLOAD.read_bytes())
    answer = invoke_async(async_front, source, InferenceId="job-1")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["InferenceId"] == "job-1"
    assert answer["OutputLocation"] == (tmp_path / "out" / "job-1.out").as_uri()
    assert answer["FailureLocation"] == (tmp_path / "failed" / "job-1-error.out").as_uri()
    assert async_front.wait_async(60)
    assert local_path(answer["OutputLocation"]).read_bytes() == direct(server, PAYLOAD.read_bytes()).content
    assert not local_path(answer["FailureLocation"]).exists()


def test_async_takes_a_body_over_the_real_time_limit(server, async_front, tmp_path):
    body = body_of(MODES["realtime"].body_bytes + MB)
    source = tmp_path / "big.csv"
    source.write_bytes(body)
    answer = invoke_async(async_front, source)
    assert async_front.wait_async(120)
    assert local_path(answer["OutputLocation"]).read_bytes() == direct(server, body).content


def test_async_writes_a_container_error_to_the_failure_location(async_front, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_bytes(b'"never closed\n')
    answer = invoke_async(async_front, source)
    assert async_front.wait_async(60)
    assert "Received client error (400) from primary" in local_path(answer["FailureLocation"]).read_text()
    assert not local_path(answer["OutputLocation"]).exists()


def test_async_refuses_an_input_over_its_limit_and_a_timeout_out_of_range(async_front, recorder, tmp_path):
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as sparse:  # no disk used: the front reads only its size
        sparse.truncate(MODES["async"].body_bytes + 1)
    error = refused(lambda: invoke_async(async_front, huge))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Message"].endswith("has oversize body.")
    small = tmp_path / "small.csv"
    small.write_bytes(SAMPLE_ROW)
    too_long = MODES["async"].timeout_seconds + 1
    error = refused(lambda: invoke_async(async_front, small, InvocationTimeoutSeconds=too_long))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert "invocationTimeoutSeconds" in error.response["Error"]["Message"]
    assert recorder.requests == []


def test_async_reads_and_writes_s3(server, recorder, tmp_path):
    from aws_fakes import client, moto_server

    with moto_server(tmp_path) as endpoint:
        s3 = client("s3", endpoint)
        s3.create_bucket(Bucket="bucket")
        s3.put_object(Bucket="bucket", Key="in/payload.csv", Body=PAYLOAD.read_bytes())
        with LocalFront(recorder.url, "async", output_location="s3://bucket/out", s3=s3) as front:
            answer = front.runtime_client().invoke_endpoint_async(
                EndpointName="e", InputLocation="s3://bucket/in/payload.csv", ContentType=CSV, Accept=CSV)
            assert front.wait_async(60)
        key = urllib.parse.urlsplit(answer["OutputLocation"]).path.lstrip("/")
        written = s3.get_object(Bucket="bucket", Key=key)["Body"].read()
    assert answer["OutputLocation"] == f"s3://bucket/out/{answer['InferenceId']}.out"
    assert written == direct(server, PAYLOAD.read_bytes()).content


def test_a_real_time_front_refuses_async_calls(recorder, tmp_path):
    with LocalFront(recorder.url) as front:
        error = refused(lambda: invoke_async(front, PAYLOAD))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert recorder.requests == []


# -- multi-model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multi_model_server(trained, tmp_path_factory):
    running = start_server(trained, tmp_path_factory.mktemp("mme-logs"), SAGEMAKER_MULTI_MODEL="true")
    yield running
    running.stop()


def model_archive(folder: Path, model_dir: Path, name: str) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / name, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)


def test_multi_model_loads_on_first_invoke_then_invokes(multi_model_server, server, trained, tmp_path):
    models = tmp_path / "models"
    model_archive(models, trained / "model", "a/model.tar.gz")
    upstream = Recorder(multi_model_server.url)
    try:
        with LocalFront(upstream.url, "multimodel", model_data_dir=models, scratch_dir=tmp_path / "scratch") as front:
            client = front.runtime_client()
            answers = [client.invoke_endpoint(EndpointName="e", Body=PAYLOAD.read_bytes(), ContentType=CSV,
                                              Accept=CSV, TargetModel="a/model.tar.gz")["Body"].read()
                       for _ in range(2)]  # fmt: skip
            missing = refused(lambda: client.invoke_endpoint(EndpointName="e", Body=SAMPLE_ROW, ContentType=CSV,
                                                             TargetModel="nowhere.tar.gz"))  # fmt: skip
            no_target = refused(lambda: client.invoke_endpoint(EndpointName="e", Body=SAMPLE_ROW, ContentType=CSV))
    finally:
        upstream.close()
    assert answers == [direct(server, PAYLOAD.read_bytes()).content] * 2
    paths = upstream.paths()
    loads = [r for r in upstream.requests if r["path"] == "/models"]
    assert len(loads) == 1, paths  # loaded once, on the first invoke
    request = json.loads(loads[0]["body"])
    name = request["model_name"]
    assert name != "a/model.tar.gz" and request["url"] == str((tmp_path / "scratch" / name / "model").resolve())
    assert paths == ["POST /models", f"POST /models/{name}/invoke", f"POST /models/{name}/invoke"]
    assert upstream.requests[1]["headers"]["X-Amzn-SageMaker-Target-Model"] == "a/model.tar.gz"
    assert missing.response["Error"]["Code"] == "ValidationError"
    assert "Failed to download model data" in missing.response["Error"]["Message"]
    assert no_target.response["Error"]["Message"].endswith("is missing a target model header.")


def test_multi_model_unloads_the_least_recently_used_on_507(trained, tmp_path):
    """A container of this test's own that has room for one model: 507 for a second one."""
    models = tmp_path / "models"
    for target in ("a.tar.gz", "b.tar.gz"):
        model_archive(models, trained / "model", target)
    held: list[str] = []
    calls: list[str] = []

    class OneModel(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes = b"{}") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(f"POST {self.path}")
            if self.path == "/models":
                name = json.loads(body)["model_name"]
                if held:
                    return self._answer(507, b'{"error": "no room"}')
                held.append(name)
                return self._answer(200)
            name = self.path.split("/")[2]
            self._answer(200 if name in held else 404, name.encode())

        def do_DELETE(self) -> None:
            calls.append(f"DELETE {self.path}")
            name = self.path.split("/")[2]
            if name in held:
                held.remove(name)
                return self._answer(200)
            self._answer(404)

        def log_message(self, *args) -> None:
            pass

    container = ThreadingHTTPServer(("127.0.0.1", 0), OneModel)
    threading.Thread(target=container.serve_forever, daemon=True).start()
    try:
        upstream = f"http://127.0.0.1:{container.server_address[1]}"
        with LocalFront(upstream, "multimodel", model_data_dir=models) as front:
            client = front.runtime_client()
            for target in ("a.tar.gz", "b.tar.gz"):
                client.invoke_endpoint(EndpointName="e", Body=SAMPLE_ROW, TargetModel=target)
            a, b = (front.models.model_name(t) for t in ("a.tar.gz", "b.tar.gz"))
    finally:
        container.shutdown()
        container.server_close()
    assert calls == ["POST /models", f"POST /models/{a}/invoke", "POST /models", f"DELETE /models/{a}",
                     "POST /models", f"POST /models/{b}/invoke"]  # fmt: skip


# -- the command line --------------------------------------------------------------------------


def test_the_command_line_serves_and_prints_its_url(recorder):
    import subprocess

    from conftest import free_port

    port = free_port()
    command = [sys.executable, "-m", "lifecycle.front", "--upstream", recorder.url, "--port", str(port), "--mode",
               "serverless"]  # fmt: skip
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "serverless" in line and "4 MB" in line, line
        client = runtime_client(f"http://127.0.0.1:{port}")
        answer = client.invoke_endpoint(EndpointName="e", Body=PAYLOAD.read_bytes(), ContentType=CSV)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        process.terminate()
        process.wait(10)


def test_local_test_invoke_prints_the_answer_or_the_error_an_application_sees(server, tmp_path):
    import subprocess

    script = [sys.executable, str(PROJECT / "local_test" / "invoke.py"), "--upstream", server.url]
    ok = subprocess.run([*script, str(PAYLOAD)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.rstrip("\n") == direct(server, PAYLOAD.read_bytes()).text.rstrip("\n")
    big = tmp_path / "big.csv"
    big.write_bytes(body_of(MODES["serverless"].body_bytes + MB))
    refused_ = subprocess.run([*script, "--mode", "serverless", str(big)], capture_output=True, text=True, timeout=120)
    assert refused_.returncode == 1
    assert "ValidationError: An error occurred (ValidationError) when calling the InvokeEndpoint operation: " in (
        refused_.stderr
    )


# -- the real image ----------------------------------------------------------------------------


@pytest.mark.container
def test_the_front_in_front_of_the_image(image, trained):
    from endpoints import ContainerEndpoint

    endpoint = ContainerEndpoint(image, trained, prefix="byoc-front")
    try:
        body = body_of(MODES["realtime"].body_bytes + MB)
        assert requests.post(endpoint.url + "/invocations", data=body, headers={"Content-Type": CSV},
                             timeout=60).status_code == 200  # fmt: skip
        with LocalFront(endpoint.url) as front:
            client = front.runtime_client()
            answer = client.invoke_endpoint(EndpointName="e", Body=PAYLOAD.read_bytes(), ContentType=CSV, Accept=CSV)
            too_big = refused(lambda: client.invoke_endpoint(EndpointName="e", Body=body, ContentType=CSV))
            bad = refused(lambda: client.invoke_endpoint(EndpointName="e", Body=b'"never closed\n', ContentType=CSV))
        assert len(answer["Body"].read().splitlines()) == len(PAYLOAD.read_bytes().splitlines())
        assert too_big.response["Error"]["Code"] == "ValidationError"
        assert bad.response["Error"]["Code"] == "ModelError" and bad.response["OriginalStatusCode"] == 400
    finally:
        endpoint.remove()


@pytest.mark.container
def test_the_front_loads_multi_models_into_the_image_through_a_mount(image, trained, tmp_path):
    """The container sees the front's scratch folder as /opt/ml/models: the url it is given is that path."""
    from endpoints import ContainerEndpoint

    models, scratch = tmp_path / "models", tmp_path / "scratch"
    model_archive(models, trained / "model", "m.tar.gz")
    scratch.mkdir()
    endpoint = ContainerEndpoint(image, trained, options=("-v", f"{scratch}:/opt/ml/models:ro"), prefix="byoc-front",
                                 SAGEMAKER_MULTI_MODEL="true")  # fmt: skip
    try:
        with LocalFront(endpoint.url, "multimodel", model_data_dir=models, scratch_dir=scratch,
                        mounts={str(scratch): "/opt/ml/models"}) as front:  # fmt: skip
            answer = front.runtime_client().invoke_endpoint(
                EndpointName="e", Body=PAYLOAD.read_bytes(), ContentType=CSV, Accept=CSV, TargetModel="m.tar.gz")
            name = front.models.model_name("m.tar.gz")
            described = requests.get(f"{endpoint.url}/models/{name}", timeout=10).json()
    finally:
        endpoint.remove()
    assert len(answer["Body"].read().splitlines()) == len(PAYLOAD.read_bytes().splitlines())
    assert described == {"modelName": name, "modelUrl": f"/opt/ml/models/{name}/model"}
