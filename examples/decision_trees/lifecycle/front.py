"""A local stand-in for SageMaker's InvokeEndpoint front door, between an application and the container.

SageMaker refuses some requests before they reach the container (a body over the mode's limit,
headers it does not support) and answers for the container when it fails (ModelError) or is
too slow. The container alone accepts all of these, so a local test passes where production
fails. LocalFront speaks the real sagemaker-runtime REST API (rest-json: the error code in the
x-amzn-ErrorType header, the message in the body), so a plain boto3 client pointed at it sees
the same ClientError it would see on AWS:

    with LocalFront("http://127.0.0.1:8080") as front:
        front.runtime_client().invoke_endpoint(EndpointName="local", Body=b"...", ContentType="text/csv")

    python -m lifecycle.front --upstream http://127.0.0.1:8080 --port 8000 --mode realtime

The limits are contract/hosting.py's (MODES[mode]): this file has no numbers
of its own but the API's validation ranges. Standard library and boto3 only; Python 3.10+.

Error messages, and where their wording comes from (the requests are refused as the API
reference says; only the sentences are quoted from users' reports):
- oversize body: ValidationError "Request <id> has oversize body." (serverless, 4 MB:
  aws/sagemaker-python-sdk#4271, aws/amazon-sagemaker-examples#4485). No report for real-time's
  6 MB was found (older ones show a 413 "HTTP content length exceeded 5246976 bytes" from the
  5 MB era, aws/sagemaker-python-sdk#171): the same sentence is used, the closest documented form.
- container 4xx/5xx: ModelError (424) "Received client error (400) from primary with message
  "<body>". See <CloudWatch URL> in account <account> for more information."
  (aws/sagemaker-python-sdk#2955; the 5xx form "Received server error (500) from ...":
  aws/amazon-sagemaker-examples#1809, #407), with OriginalStatusCode, OriginalMessage and
  LogStreamArn as the service model's ModelError shape gives them.
- timeout: ModelError "Your invocation timed out while waiting for a response from container
  primary. Review the latency metrics for each container in Amazon CloudWatch, resolve the
  issue, and try again." (aws-samples/host-yolov8-on-sagemaker-endpoint#21; the HTTP status is
  not reported there: ModelError's 424 is used).
- Target-Model on an endpoint that is not multi-model: ValidationError "Endpoint <name> is not a
  multi-model endpoint and does not support target model header." (aws/amazon-sagemaker-examples
  #1026, #1216); a multi-model endpoint without it: "Request <id> is missing a target model
  header." (aws/sagemaker-tensorflow-serving-container#166, quoted there truncated).
- unknown target model: no report found. The sentence is the one CreateEndpoint gives for a
  missing ModelDataUrl (aws-solutions-library-samples/fraud-detection-using-machine-learning#9),
  as a ValidationError: the closest documented form.
- an integer header out of range: AWS's usual "1 validation error detected: Value '<v>' at
  '<field>' failed to satisfy constraint: ..." form (not found for these fields in particular).
- no report found, so the wording is this file's own: the wrong kind of endpoint (InvokeEndpointAsync
  on a real-time endpoint or the reverse), InputLocation and Body both or neither, a target model
  archive that does not unpack, and a container that is not listening (local only).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python lifecycle/front.py: the project folder on the path, as -m has it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lifecycle.multimodel_host import MultiModelHost
from lifecycle.project import hosting
from lifecycle.runtime_errors import FrontError, validation

HOSTING = hosting()
FRONT_MODES = ("realtime", "serverless", "multimodel", "inference-component", "async")
VARIANT = "AllTraffic"  # the SDKs' default production variant name
CONTAINER = "primary"  # how SageMaker's messages name a model's only container
ACCOUNT = "123456789012"  # stands in for the caller's account in messages and ARNs
ASYNC_DEFAULT_TIMEOUT = 900  # InvokeEndpointAsync's InvocationTimeoutSeconds default (API reference)
ASYNC_INLINE_BODY_BYTES = 128000  # InvokeEndpointAsync's inline Body limit (service model)
# What reaches the container; the other headers of the API only route the request (variant,
# container, inference component, session) and anything outside the API is stripped.
FORWARDED = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes", "X-Amzn-SageMaker-Target-Model",
             "X-Amzn-SageMaker-Inference-Id")  # fmt: skip
ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
ROUTE = re.compile(r"/endpoints/(?P<name>[^/]+)/(?P<operation>invocations|async-invocations)")


class Upstream:
    """The container's HTTP server: one request each, bounded by a deadline."""

    def __init__(self, url: str):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be http://host:port, not {url!r}")
        self.url, self.host, self.port = url, parsed.hostname, parsed.port or 80

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float):
        """(status, headers, body); TimeoutError if the container is silent for longer than timeout."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


class LocalFront:
    """InvokeEndpoint (and InvokeEndpointAsync) in front of a container, enforcing SageMaker's limits.

    upstream: the container's URL. mode: a key of contract/hosting.py's MODES (not batch).
    timeout_seconds / body_bytes: override the mode's limits (tests only: a short timeout).
    endpoint_name: if given, other names are refused as AWS refuses an unknown endpoint.
    log_requests: one line on stderr per request.
    async: output_location and failure_location (file:///dir or s3://bucket/prefix), and an
    s3 client (or s3_endpoint_url) for s3:// locations.
    multimodel: model_data_dir (the ModelDataUrl prefix: TargetModel is relative to it),
    scratch_dir (where models are unpacked) and mounts {host dir: container dir}, for a
    container in Docker that sees scratch_dir under another path (as /opt/ml/models).
    """

    def __init__(
        self,
        upstream: str,
        mode: str = "realtime",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timeout_seconds: float | None = None,
        body_bytes: int | None = None,
        endpoint_name: str | None = None,
        region: str = "us-east-1",
        output_location: str | None = None,
        failure_location: str | None = None,
        s3: Any = None,
        s3_endpoint_url: str | None = None,
        model_data_dir: str | Path | None = None,
        scratch_dir: str | Path | None = None,
        mounts: dict[str, str] | None = None,
        log_requests: bool = True,
    ):
        if mode not in FRONT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FRONT_MODES)}, not {mode!r}")
        limits = HOSTING.MODES[mode]
        self.mode, self.upstream, self.region, self.endpoint_name = mode, Upstream(upstream), region, endpoint_name
        self.log_requests = log_requests
        self.body_bytes = limits.body_bytes if body_bytes is None else body_bytes
        self.timeout_seconds = limits.timeout_seconds if timeout_seconds is None else timeout_seconds
        self.output_location, self.failure_location = output_location, failure_location or output_location
        self._failure_header = failure_location
        self._s3, self._s3_endpoint_url = s3, s3_endpoint_url
        if mode == "async" and not output_location:
            raise ValueError("async mode needs output_location (file:///dir or s3://bucket/prefix)")
        self.models: MultiModelHost | None = None
        if mode == "multimodel":
            if model_data_dir is None:
                raise ValueError("multimodel mode needs model_data_dir (the folder of <target>.tar.gz files)")
            self.models = MultiModelHost(self.call, self.model_error, Path(model_data_dir), scratch_dir, mounts or {})
        self._pending: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalFront:
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.models is not None:
            self.models.close()

    def __enter__(self) -> LocalFront:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def runtime_client(self, region: str = "us-east-1"):
        """A boto3 sagemaker-runtime client at this front."""
        return runtime_client(self.url, region, self.timeout_seconds)

    def wait_async(self, timeout: float) -> bool:
        """Wait for the background async invocations; True if none is left."""
        with self._lock:
            pending = list(self._pending)
        for thread in pending:
            thread.join(timeout)
        with self._lock:
            return not self._pending

    def describe(self) -> str:
        limit = f"{self.body_bytes / HOSTING.MB:g} MB" if self.body_bytes >= HOSTING.MB else f"{self.body_bytes} B"
        return f"{self.url} ({self.mode}: bodies up to {limit}, {self.timeout_seconds:g} s per request)"

    # -- InvokeEndpoint ----------------------------------------------------------------------

    def invoke(self, endpoint: str, headers: dict[str, str], body: bytes, request_id: str):
        """(status, headers, body) for InvokeEndpoint; raises FrontError."""
        self._check_endpoint(endpoint)
        if self.mode == "async":
            raise validation(f"Endpoint {endpoint} is an asynchronous inference endpoint: call InvokeEndpointAsync.")
        if len(body) > self.body_bytes:
            raise validation(f"Request {request_id} has oversize body.")
        forwarded = {name: headers[name] for name in FORWARDED if name in headers}
        target = forwarded.get("X-Amzn-SageMaker-Target-Model")
        if self.models is None:
            if target is not None:
                raise validation(
                    f"Endpoint {endpoint} is not a multi-model endpoint and does not support target model header."
                )
            status, answer_headers, answer = self.call("POST", "/invocations", body, forwarded, endpoint)
        else:
            if target is None:
                raise validation(f"Request {request_id} is missing a target model header.")
            status, answer_headers, answer = self.models.invoke(endpoint, target, body, forwarded)
        if status >= 400:
            raise self.model_error(endpoint, status, answer)
        reply = {"x-Amzn-Invoked-Production-Variant": VARIANT}
        for name in ("Content-Type", "X-Amzn-SageMaker-Custom-Attributes"):
            value = _header(answer_headers, name)
            if value is not None:
                reply[name] = value
        return 200, reply, answer

    def call(self, method: str, path: str, body: bytes | None, headers: dict[str, str], endpoint: str,
             timeout: float | None = None):  # fmt: skip
        """(status, headers, body) of one request to the container; FrontError 424 if it is silent or away."""
        headers = {**headers, "Content-Length": str(len(body or b""))}
        try:
            return self.upstream.request(method, path, body, headers, timeout or self.timeout_seconds)
        except TimeoutError:  # socket.timeout is TimeoutError from Python 3.10
            raise FrontError(
                "ModelError", 424,
                f"Your invocation timed out while waiting for a response from container {CONTAINER}. Review the "
                "latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.",
                LogStreamArn=self.log_stream_arn(endpoint),
            ) from None  # fmt: skip
        except OSError as exc:  # local only: SageMaker routes nothing to a container that fails /ping
            raise FrontError(
                "ModelError", 424, f"The local front could not reach the container at {self.upstream.url} ({exc}): "
                "is it serving (make serve-local)?", LogStreamArn=self.log_stream_arn(endpoint),
            ) from None  # fmt: skip

    def model_error(self, endpoint: str, status: int, answer: bytes) -> FrontError:
        kind = "client" if status < 500 else "server"
        text = answer.decode("utf-8", "replace")
        return FrontError(
            "ModelError", 424,
            f'Received {kind} error ({status}) from {CONTAINER} with message "{text}". '
            f"See {self.log_url(endpoint)} for more information.",
            OriginalStatusCode=status, OriginalMessage=text, LogStreamArn=self.log_stream_arn(endpoint),
        )  # fmt: skip

    def log_url(self, endpoint: str) -> str:
        return (f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#logEventViewer:group=/aws/sagemaker/Endpoints/{endpoint} in account {ACCOUNT}")  # fmt: skip

    def log_stream_arn(self, endpoint: str) -> str:
        return f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{endpoint}"

    def _check_endpoint(self, endpoint: str) -> None:
        if not ENDPOINT_NAME.fullmatch(endpoint):
            raise validation(
                f"1 validation error detected: Value '{endpoint}' at 'endpointName' failed to satisfy constraint: "
                r"Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
            )
        if self.endpoint_name is not None and endpoint != self.endpoint_name:
            raise validation(f"Endpoint {endpoint} of account {ACCOUNT} not found.")

    # -- InvokeEndpointAsync -----------------------------------------------------------------

    def invoke_async(self, endpoint: str, headers: dict[str, str], body: bytes, request_id: str):
        """202 with the output and failure locations at once; the container is called in the background."""
        self._check_endpoint(endpoint)
        if self.mode != "async":
            raise validation(f"Endpoint {endpoint} is not an asynchronous inference endpoint: call InvokeEndpoint.")
        location = headers.get("X-Amzn-SageMaker-InputLocation")
        if location and body:
            raise validation("InputLocation and Body are mutually exclusive: specify only one of them.")
        if not location and not body:
            raise validation("Either InputLocation or Body must be specified.")
        if body and len(body) > ASYNC_INLINE_BODY_BYTES:
            raise validation(f"Request {request_id} has oversize body.")
        timeout = _ranged(headers, "X-Amzn-SageMaker-InvocationTimeoutSeconds", "invocationTimeoutSeconds",
                          ASYNC_DEFAULT_TIMEOUT, 1, HOSTING.MODES["async"].timeout_seconds)  # fmt: skip
        _ranged(headers, "X-Amzn-SageMaker-RequestTTLSeconds", "requestTTLSeconds", 21600, 60, 21600)
        timeout = min(timeout, self.timeout_seconds)  # a shorter test timeout wins
        if location:
            size = self._storage_size(location)
            if size is not None and size > self.body_bytes:
                raise validation(f"Request {request_id} has oversize body.")
        inference_id = headers.get("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
        output = _join(self.output_location, f"{inference_id}.out")
        failure = _join(self.failure_location, f"{inference_id}-error.out")
        forwarded = {"Content-Type": headers.get("X-Amzn-SageMaker-Content-Type"),
                     "Accept": headers.get("X-Amzn-SageMaker-Accept"),
                     "X-Amzn-SageMaker-Custom-Attributes": headers.get("X-Amzn-SageMaker-Custom-Attributes"),
                     "X-Amzn-SageMaker-Inference-Id": inference_id}  # fmt: skip
        forwarded = {name: value for name, value in forwarded.items() if value is not None}
        worker = threading.Thread(
            target=self._run_async, args=(endpoint, location, body, forwarded, timeout, output, failure),
            name=f"async-{inference_id}", daemon=True,
        )  # fmt: skip
        with self._lock:
            self._pending.add(worker)
        worker.start()
        reply = {"X-Amzn-SageMaker-OutputLocation": output}
        if self._failure_header:
            reply["X-Amzn-SageMaker-FailureLocation"] = failure
        return 202, {**reply, "Content-Type": "application/json"}, json.dumps({"InferenceId": inference_id}).encode()

    def _run_async(self, endpoint: str, location: str | None, body: bytes, headers: dict[str, str], timeout: float,
                   output: str, failure: str) -> None:  # fmt: skip
        try:
            try:
                payload = self._read_storage(location) if location else body
                status, _, answer = self.call("POST", "/invocations", payload, headers, endpoint, timeout=timeout)
                if status >= 400:
                    raise self.model_error(endpoint, status, answer)
            except FrontError as exc:
                self._write_storage(failure, exc.message.encode())
            except Exception as exc:  # an unreadable input location, mostly
                self._write_storage(failure, f"{type(exc).__name__}: {exc}".encode())
            else:
                self._write_storage(output, answer)
        finally:
            with self._lock:
                self._pending.discard(threading.current_thread())

    # -- storage: file:// here, s3:// through boto3 --------------------------------------------

    def _s3_client(self):
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self._s3_endpoint_url)
        return self._s3

    def _storage_size(self, location: str) -> int | None:
        """The input's size, or None if it cannot be read now (then the invocation fails later, as on AWS)."""
        try:
            scheme, bucket, key = _split(location)
            if scheme == "file":
                return Path(key).stat().st_size
            return self._s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"]
        except ValueError as exc:
            raise validation(str(exc)) from None
        except Exception:  # missing or not allowed: found out in the background
            return None

    def _read_storage(self, location: str) -> bytes:
        scheme, bucket, key = _split(location)
        if scheme == "file":
            return Path(key).read_bytes()
        return self._s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def _write_storage(self, location: str, data: bytes) -> None:
        scheme, bucket, key = _split(location)
        if scheme == "file":
            path = Path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(data)
            partial.replace(path)  # whole or absent, as an S3 object is
        else:
            self._s3_client().put_object(Bucket=bucket, Key=key, Body=data)



def runtime_client(url: str, region: str = "us-east-1", timeout_seconds: float = 60):
    """A boto3 sagemaker-runtime client at a front's url, as an application makes one for AWS (with
    dummy credentials: the front does not check signatures). boto3's default retries, so errors read as
    on AWS; the read timeout outlasts the front's, as the API reference advises (70 s for 60 s)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime", endpoint_url=url, region_name=region, aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(read_timeout=timeout_seconds + 10, connect_timeout=5),
    )  # fmt: skip



def _split(location: str) -> tuple[str, str, str]:
    """(scheme, bucket, key) of s3://bucket/key, or ("file", "", path) of file:///path."""
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme == "file":
        return "file", "", urllib.parse.unquote(parsed.path)
    if parsed.scheme == "s3" and parsed.netloc:
        return "s3", parsed.netloc, parsed.path.lstrip("/")
    raise ValueError(f"{location!r} is not an s3:// or file:// location")


def _join(location: str | None, name: str) -> str:
    return f"{(location or '').rstrip('/')}/{name}"


def _ranged(headers: dict[str, str], header: str, field: str, default: int, low: int, high: int) -> int:
    text = headers.get(header)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise validation(f"1 validation error detected: Value '{text}' at '{field}' failed to satisfy constraint: "
                         "Member must be an integer") from None  # fmt: skip
    if not low <= value <= high:
        bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
        raise validation(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return value


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _handler(front: LocalFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LocalFront"

        def do_POST(self) -> None:
            request_id = str(uuid.uuid4())
            route = ROUTE.fullmatch(urllib.parse.urlsplit(self.path).path)
            try:
                body = self._body()  # read whole even when refused: the client is still sending it
                if route is None:
                    raise FrontError("UnknownOperationException", 404, f"No operation at POST {self.path}")
                endpoint = urllib.parse.unquote(route["name"])
                headers = {name: value for name, value in self.headers.items()}
                canonical = {_canonical(name): value for name, value in headers.items()}
                if route["operation"] == "invocations":
                    status, reply, answer = front.invoke(endpoint, canonical, body, request_id)
                else:
                    status, reply, answer = front.invoke_async(endpoint, canonical, body, request_id)
            except FrontError as exc:
                status, reply = exc.status, {"x-amzn-ErrorType": exc.code, "Content-Type": "application/json"}
                answer = json.dumps({"__type": exc.code, "message": exc.message, **exc.members}).encode()
            try:
                self.send_response(status)
                for name, value in {**reply, "x-amzn-RequestId": request_id}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):  # the caller gave up (its own timeout)
                self.close_connection = True

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
            if front.log_requests:
                sys.stderr.write(f"front: {self.address_string()} {format % args}\n")

    return Handler


def _canonical(name: str) -> str:
    """The header's spelling in FORWARDED and the API (HTTP header names are case-insensitive)."""
    known = {n.lower(): n for n in (*FORWARDED, "X-Amzn-SageMaker-InputLocation", "X-Amzn-SageMaker-Content-Type",
             "X-Amzn-SageMaker-Accept", "X-Amzn-SageMaker-InvocationTimeoutSeconds",
             "X-Amzn-SageMaker-RequestTTLSeconds")}  # fmt: skip
    return known.get(name.lower(), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m lifecycle.front")
    parser.add_argument("--upstream", default="http://127.0.0.1:8080", help="the container (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    parser.add_argument("--mode", choices=FRONT_MODES, default="realtime")
    parser.add_argument("--endpoint-name", help="refuse other endpoint names, as AWS does")
    parser.add_argument("--output-location", help="async: file:///dir or s3://bucket/prefix for answers")
    parser.add_argument("--failure-location", help="async: where failures go (default: the output location)")
    parser.add_argument("--s3-endpoint-url", help="async: the S3 API for s3:// locations")
    parser.add_argument("--model-data-dir", help="multimodel: the folder of <target>.tar.gz files")
    parser.add_argument("--scratch-dir", help="multimodel: where models are unpacked (default: a temporary folder)")
    parser.add_argument("--mount", action="append", default=[], metavar="HOST_DIR:CONTAINER_DIR",
                        help="multimodel: the container sees HOST_DIR as CONTAINER_DIR (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        mounts = dict(mount.rsplit(":", 1) for mount in args.mount)
        front = LocalFront(
            args.upstream, args.mode, args.host, args.port, endpoint_name=args.endpoint_name,
            output_location=args.output_location, failure_location=args.failure_location,
            s3_endpoint_url=args.s3_endpoint_url, model_data_dir=args.model_data_dir,
            scratch_dir=args.scratch_dir, mounts=mounts,
        )  # fmt: skip
    except (ValueError, OSError) as exc:
        print(f"front: {exc}", file=sys.stderr)
        return 2
    print(f"front: InvokeEndpoint at {front.describe()}, forwarding to {args.upstream}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as Ctrl-C: close the socket on the way out
    try:
        front.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        front.server.server_close()
        if front.models is not None:
            front.models.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
