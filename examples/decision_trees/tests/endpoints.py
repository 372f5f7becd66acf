"""The two ways `serve` runs, behind one interface, for the contract tests (test_contract.py):
a host process, as `make test` runs it, and the image in a container, as SageMaker runs it.

Both give the URL, the log, the processes of the server (serve, nginx and gunicorn with their
workers), a signal to one of them, the sockets it listens on, its exit code, and the files it
wrote (read where the server sees them).
"""

import contextlib
import inspect
import json
import os
import signal
import subprocess
import time
import uuid
from functools import cached_property
from pathlib import Path

from conftest import ANY_BUT_502, Server, descendants, docker, listening, process_table, start_server, wait_for_answer


class HostEndpoint:
    """`serve` as a host process (OPT_ML for /opt/ml), listening on 127.0.0.1."""

    kind = "host"
    address = "127.0.0.1"  # LISTEN_ADDRESS's default outside the image

    def __init__(self, opt_ml: Path, log_dir: Path, wait_healthy: bool = True, **env):
        self.server: Server = start_server(opt_ml, log_dir, wait_healthy=wait_healthy, **env)
        self.url = self.server.url
        self.port = int(self.url.rsplit(":", 1)[1])
        self.root = self.server.process.pid

    def logs(self) -> str:
        return self.server.log()

    def processes(self) -> list[dict]:
        """serve and what descends from it."""
        table = process_table()
        return [p for p in table if p["pid"] == self.root] + descendants(table, self.root)

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        os.kill(pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        return self.server.stop(sig, timeout)

    def wait(self, timeout: float) -> int:
        return self.server.process.wait(timeout)

    def running(self) -> bool:
        return self.server.process.poll() is None

    def listening(self) -> set[str]:
        tables = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
        return {entry for entry in listening(tables) if entry.endswith(f":{self.port}")}

    def read(self, path: str) -> str:
        return Path(path).read_text()

    def remove(self) -> None:
        if self.running():
            try:
                self.server.stop(signal.SIGTERM, timeout=30)
            except subprocess.TimeoutExpired:
                self.server.stop(signal.SIGKILL)


class RunningContainer:
    """A container of the image, by name: what the tests read of it and do to it."""

    def __init__(self, name: str, port: int = 8080):
        self.name = name
        self.port = port  # where the server listens inside the container

    @cached_property
    def url(self) -> str:
        published = docker("port", self.name, f"{self.port}/tcp").stdout.split()[0]  # 127.0.0.1:PORT
        return "http://127.0.0.1:" + published.rsplit(":", 1)[1]

    def inspect(self) -> dict:
        return json.loads(docker("inspect", self.name).stdout)[0]

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stdout(self) -> str:
        return docker("logs", self.name).stdout

    def python(self, code: str, *args: str) -> str:
        return docker("exec", self.name, "python3", "-c", code, *args).stdout

    def processes(self) -> list[dict]:
        """PID 1 and what descends from it; the `docker exec` that lists them is not among them."""
        code = inspect.getsource(process_table) + "\nimport json, os\nprint(json.dumps(process_table()))\n"
        table = json.loads(self.python(code))
        return [p for p in table if p["pid"] == 1] + descendants(table, 1)

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        self.python(f"import os; os.kill({pid}, {int(sig)})")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if sig == signal.SIGTERM:  # as SageMaker does: SIGTERM, then SIGKILL after the grace period
            docker("stop", "-t", "30", self.name, timeout=timeout + 30)
        else:
            docker("kill", "-s", str(int(sig)), self.name, check=False)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        """The exit code, once the container has ended."""
        return int(docker("wait", self.name, timeout=timeout).stdout.strip())

    def running(self) -> bool:
        result = docker("inspect", self.name, check=False)
        return result.returncode == 0 and json.loads(result.stdout)[0]["State"]["Running"]

    def listening(self) -> set[str]:
        return listening(docker("exec", self.name, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout)

    def read(self, path: str) -> str:
        return docker("exec", self.name, "cat", path).stdout

    def read_first(self, paths: tuple[str, ...]) -> str:
        """The first of these files that exists in the container (e.g. cgroup v2's name, then v1's)."""
        script = "for p in sys.argv[1:]:\n    if os.path.exists(p):\n        print(open(p).read()); break"
        return self.python(f"import os, sys\n{script}", *paths).strip()

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)


class ContainerEndpoint(RunningContainer):
    """`docker run IMAGE serve` with opt_ml/model mounted read-only at /opt/ml/model (unless opt_ml is None)."""

    kind = "container"
    address = "0.0.0.0"  # the image's LISTEN_ADDRESS: SageMaker reaches the container from outside

    def __init__(
        self,
        image: str,
        opt_ml: Path | None,
        wait_healthy: bool = True,
        options=(),
        prefix: str = "byoc-contract",
        **env,
    ):
        super().__init__(f"{prefix}-{uuid.uuid4().hex[:8]}", int(env.get("SAGEMAKER_BIND_TO_PORT", 8080)))
        args = ["run", "-d", "--name", self.name, "-p", f"127.0.0.1::{self.port}"]
        if opt_ml is not None:  # None: no /opt/ml/model, as in a multi-model container
            args += ["-v", f"{opt_ml / 'model'}:/opt/ml/model:ro"]
        args += list(options)
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        docker(*args, image, "serve")
        wait_for_answer(self.url + "/ping", 240, self.running, self.logs, (200,) if wait_healthy else ANY_BUT_502)


@contextlib.contextmanager
def serving_container(image: str, model_dir: Path, *docker_args: str, prefix: str = "byoc-serve"):
    """`docker run IMAGE serve` with model_dir mounted read-only at /opt/ml/model; yields (url, name)."""
    endpoint = ContainerEndpoint(image, model_dir.parent, options=docker_args, prefix=prefix)
    try:
        yield endpoint.url, endpoint.name
    finally:
        endpoint.remove()


def gunicorn_master(processes: list[dict]) -> dict:
    """The gunicorn whose parent is not a gunicorn."""
    commands = {p["pid"]: p["command"] for p in processes}
    return next(p for p in processes if "gunicorn" in p["command"] and "gunicorn" not in commands.get(p["ppid"], ""))


def workers(endpoint: HostEndpoint | ContainerEndpoint) -> list[int]:
    """gunicorn's worker pids: the children of its master."""
    processes = endpoint.processes()
    master = gunicorn_master(processes)
    return sorted(p["pid"] for p in processes if p["ppid"] == master["pid"])


def poll(condition, timeout: float, message: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)
