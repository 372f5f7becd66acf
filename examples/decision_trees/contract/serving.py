"""Serving settings from the environment, shared by `serve`, the Flask app and nginx.conf.

SageMaker sets SAGEMAKER_BIND_TO_PORT only for pipelines and multi-container endpoints;
everywhere else the port is 8080. Worker count and timeout take SageMaker's toolkit
names (SAGEMAKER_MODEL_SERVER_*) and, for users of AWS's sample, MODEL_SERVER_*.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import ipaddress
import os
from pathlib import Path

from contract import hosting
from contract.cpus import cpu_count

NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf")


class SettingError(ValueError):
    """An environment variable holds a value the server cannot use."""


# Every setting the serving container reads, as docs/environment.md lists it (`make docs` writes
# the table from these declarations, and a test checks that the code reads each name):
# name -> (default, effect).
ENVIRONMENT = {
    "SAGEMAKER_BIND_TO_PORT": ("8080", "port nginx listens on (set by SageMaker for inference pipelines)"),
    "LISTEN_ADDRESS": (
        "`0.0.0.0` in the image, `127.0.0.1` elsewhere",
        "the address nginx listens on: a `serve` run on your machine (`make test`) answers that machine only",
    ),
    "SAGEMAKER_MODEL_SERVER_WORKERS": (
        "CPUs allotted",
        "gunicorn workers (`MODEL_SERVER_WORKERS` too); each model gets `cores / workers` threads. The CPUs "
        "allotted are the container's CPU set capped by its cgroup's CPU quota (`docker run --cpus`, an "
        "inference component's `NumberOfCpuCoresRequired`), not the host's core count",
    ),
    "MODEL_SERVER_WORKERS": ("", "the same as `SAGEMAKER_MODEL_SERVER_WORKERS` (the name of AWS's sample)"),
    "SAGEMAKER_MODEL_SERVER_TIMEOUT": (
        "60",
        "seconds per request (`MODEL_SERVER_TIMEOUT` too), for gunicorn `--timeout` and nginx's proxy timeouts alike",
    ),
    "MODEL_SERVER_TIMEOUT": ("", "the same as `SAGEMAKER_MODEL_SERVER_TIMEOUT` (the name of AWS's sample)"),
    "MAX_BODY_MB": (
        "100",
        "the largest request body in MB, for nginx's `client_max_body_size` and Flask's limit alike",
    ),
    "SAGEMAKER_MULTI_MODEL": (
        "",
        "`true` (SageMaker sets it for a model with `Mode: MultiModel`): serve many models through `/models`",
    ),
    "MULTI_MODEL_MEMORY_RESERVE_MB": ("64", "multi-model: memory a load must leave free, or it is refused with 507"),
    "ACCESS_LOG": (
        "`errors`",
        "nginx's access log on stdout: `errors` (4xx and 5xx only), `all` (every request; costs throughput), `off`",
    ),
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": (
        "`text/csv`",
        "the answer type for a missing Accept or `*/*`: a type the model answers (the built-in types and "
        "`OUTPUT_TYPES`; a `transform`'s own only), else `serve` stops with a sentence naming them",
    ),
    "SAGEMAKER_MAX_PAYLOAD_IN_MB": ("", "echoed by `/execution-parameters` when a batch job sets it"),
    "SAGEMAKER_BATCH_STRATEGY": ("", "echoed by `/execution-parameters` when a batch job sets it"),
    "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": ("", "echoed by `/execution-parameters` when a batch job sets it"),
    "MODEL_SHA256": (
        "",
        "the SHA-256 of the one `model.json` this endpoint may load (comma-separated for a multi-model "
        "endpoint's models): `train` logs it ([model-files.md](model-files.md))",
    ),
}


def _integer(names: tuple[str, ...], default: int, low: int, high: int) -> int:
    for name in names:
        text = os.environ.get(name, "").strip()
        if text:
            try:
                value = int(text)
            except ValueError:
                raise SettingError(f"{name}={text!r} is not a whole number") from None
            if not low <= value <= high:
                raise SettingError(f"{name}={value} is outside {low}..{high}")
            return value
    return default


def port() -> int:
    return _integer(("SAGEMAKER_BIND_TO_PORT",), 8080, 1, 65535)


def listen_address() -> str:
    """nginx's listen address: loopback unless LISTEN_ADDRESS says otherwise.

    A `serve` started on a laptop or a notebook instance answers that machine only; the
    Dockerfile sets LISTEN_ADDRESS=0.0.0.0, because SageMaker reaches the container from outside.
    """
    text = os.environ.get("LISTEN_ADDRESS", "").strip() or "127.0.0.1"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SettingError(f"LISTEN_ADDRESS={text!r} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)") from None
    return f"[{address}]" if address.version == 6 else str(address)


def workers() -> int:
    # One worker per core: requests are CPU-bound, and more workers than cores only queue.
    return _integer((hosting.WORKERS_VARIABLE, "MODEL_SERVER_WORKERS"), cpu_count(), 1, 1024)


def timeout() -> int:
    # Used for both gunicorn --timeout and nginx proxy_read_timeout, so neither cuts the other off.
    names = (hosting.TIMEOUT_VARIABLE, "MODEL_SERVER_TIMEOUT")
    return _integer(names, hosting.DEFAULT_TIMEOUT_SECONDS, 1, hosting.MAX_TIMEOUT_SECONDS)


def max_body_mb() -> int:
    """The largest request body, in MB: nginx's client_max_body_size and Flask's limit alike."""
    return _integer((hosting.BODY_VARIABLE,), hosting.DEFAULT_BODY_MB, 1, hosting.MAX_BODY_MB)


# nginx's access log: one line per request costs a write to stdout, which Docker and CloudWatch
# then carry (a third of the throughput on 1-row requests here), so by default only failures.
ACCESS_LOGS = {
    "errors": "access_log /dev/stdout combined if=$failed;",  # 4xx and 5xx
    "all": "access_log /dev/stdout combined buffer=32k flush=1s;",
    "off": "access_log off;",
}


def access_log() -> str:
    value = os.environ.get("ACCESS_LOG", "").strip().lower() or "errors"
    if value not in ACCESS_LOGS:
        raise SettingError(f"ACCESS_LOG={value!r} is not one of {', '.join(ACCESS_LOGS)}")
    return ACCESS_LOGS[value]


DEFAULT_ACCEPT_VARIABLE = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"


def default_accept(answerable: list[str], fallback: str) -> str:
    """The answer's type for a request without Accept (or */*): SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
    which must be one of the types the model answers (answerable), else fallback."""
    value = os.environ.get(DEFAULT_ACCEPT_VARIABLE, "").strip()
    if not value:
        return fallback
    if value.lower() not in answerable:
        raise SettingError(
            f"{DEFAULT_ACCEPT_VARIABLE}={value!r} is not a type this model answers; use one of {', '.join(answerable)}"
        )
    return value.lower()


REGISTRY_VARIABLE = "MULTI_MODEL_REGISTRY"  # set by serve: a folder all its workers share
RESERVE_VARIABLE = "MULTI_MODEL_MEMORY_RESERVE_MB"
DEFAULT_RESERVE_MB = 64  # room for requests' own arrays, nginx and the kernel's share


def multi_model() -> bool:
    """SageMaker sets SAGEMAKER_MULTI_MODEL=true for a model whose container Mode is MultiModel."""
    return os.environ.get("SAGEMAKER_MULTI_MODEL", "").strip().lower() in ("true", "1", "yes")


def memory_reserve_mb() -> int:
    """Memory a multi-model load must leave free, in MB, or it is refused with 507."""
    return _integer((RESERVE_VARIABLE,), DEFAULT_RESERVE_MB, 0, 1 << 30)


def threads_per_worker(worker_count: int) -> int:
    """Threads each worker's model may use so that all workers together fit the cores."""
    return max(1, cpu_count() // worker_count)


def execution_parameters(worker_count: int) -> dict:
    """GET /execution-parameters: what batch transform should send (a job's own settings win)."""
    concurrency = min(worker_count, 100)
    body_mb = min(max_body_mb(), hosting.MODES["batch"].body_mb)
    payload_mb = max(1, min(6, body_mb // concurrency))
    return {
        "MaxConcurrentTransforms": _integer(("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",), concurrency, 1, 100),
        "BatchStrategy": os.environ.get("SAGEMAKER_BATCH_STRATEGY") or "MULTI_RECORD",
        "MaxPayloadInMB": _integer(("SAGEMAKER_MAX_PAYLOAD_IN_MB",), payload_mb, 1, body_mb),
    }


def nginx_config(runtime_dir: Path, socket: Path) -> str:
    """nginx.conf with this container's port, timeout and scratch paths filled in."""
    values = {
        "@LISTEN@": f"{listen_address()}:{port()}",
        "@TIMEOUT@": str(timeout()),
        "@MAX_BODY_MB@": str(max_body_mb()),
        "@RUNTIME_DIR@": str(runtime_dir),
        "@SOCKET@": str(socket),
        "@ACCESS_LOG@": access_log(),
    }
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(key, value)
    return text
