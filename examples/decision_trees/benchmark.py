"""Serving benchmark of this project's image, measured with wrk (`make bench`).

    python benchmark.py --image decision_trees [--model-dir DIR] [--json results.json]

It builds the image if it is missing, trains the model on local_test/test_dir in a
container (or serves --model-dir), starts `docker run IMAGE serve` and measures:
- 1-row CSV /invocations throughput and p50/p99 latency at concurrency 1, 4 and 16
  (wrk, as many connections as the concurrency, after a warm-up), and /ping's rate at
  the same concurrency: the ceiling the HTTP stack itself sets;
- one CSV batch of 250,000 rows (4 MB for 4 features), end to end, median of 3;
- the time from `docker run ... serve` to the first healthy /ping, median of 3 fresh containers;
- the image size, and the memory (PSS and RSS) of the whole server and of each worker,
  after the batch.
Any response that is not 2xx, or any socket error, fails the run (exit code 1).

The load generator reaches the container on 127.0.0.1 inside the container's own network
namespace (root only; no docker-proxy in the path), else on a port published to 127.0.0.1.

The measuring code knows nothing about this image: `measure()` takes any `Server` and a
`Workload` (the requests to send). The template repository's own benchmark (bench/) builds
on these pieces to compare this server with others.
"""

import argparse
import http.client
import inspect
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parent
DEFAULT_IMAGE = "decision_trees"
TEST_DIR = PROJECT / "local_test" / "test_dir"
BATCH_ROWS = 250_000
MIB = 1024 * 1024


class BenchError(RuntimeError):
    """The benchmark cannot go on (a tool is missing, a server does not start)."""


# ---------------------------------------------------------------------------------------------
# What to send


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    content_type: str = ""

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type} if self.content_type else {}


@dataclass(frozen=True)
class Workload:
    """The requests one server is measured with, in that server's own format."""

    health: Request  # answers 200 once the server can predict
    one_row: Request
    batch: Request
    batch_rows: int
    count_rows: Callable[[bytes], int]  # predictions in a response body
    description: str = ""


def feature_matrix(rows: int, n_features: int, seed: int = 0) -> np.ndarray:
    """Numbers with one decimal in 0.1..9.9: 4 bytes of CSV each, like the iris sample."""
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(0.1, 9.9, size=(rows, n_features)), 1)


def csv_bytes(features: np.ndarray) -> bytes:
    lines = [",".join(f"{value:.1f}" for value in row) for row in features.tolist()]
    return ("\n".join(lines) + "\n").encode()


def count_lines(body: bytes) -> int:
    return len(body.splitlines())


def csv_workload(
    n_features: int, rows: int = BATCH_ROWS, path: str = "/invocations", health: str = "/ping"
) -> Workload:
    """SageMaker's contract: CSV rows to /invocations, one prediction per line back."""
    features = feature_matrix(rows, n_features)
    batch = csv_bytes(features)
    return Workload(
        health=Request("GET", health),
        one_row=Request("POST", path, csv_bytes(features[:1]), "text/csv"),
        batch=Request("POST", path, batch, "text/csv"),
        batch_rows=rows,
        count_rows=count_lines,
        description=f"text/csv to {path}; batch {rows} rows x {n_features} features = {len(batch) / 1e6:.1f} MB",
    )


# ---------------------------------------------------------------------------------------------
# Servers under test


def process_table(root: int) -> list[dict]:
    """root and its descendants with their memory (bytes), read from /proc.

    Self-contained: it also runs inside containers (`docker exec ... python3 -c`).
    """
    import os

    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat_file:
                stat = stat_file.read()
            with open(f"/proc/{entry}/cmdline", "rb") as cmd_file:
                cmdline = cmd_file.read().replace(b"\0", b" ").decode(errors="replace").strip()
            sizes = {"Rss:": 0, "Pss:": 0}
            with open(f"/proc/{entry}/smaps_rollup") as smaps:
                for line in smaps:
                    key = line.split(" ", 1)[0]
                    if key in sizes:
                        sizes[key] = int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        found[int(entry)] = {
            "pid": int(entry),
            "ppid": ppid,
            "name": name,
            "cmdline": cmdline[:160],
            "rss": sizes["Rss:"],
            "pss": sizes["Pss:"],
        }
    tree, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        if pid in found:
            tree.append(found[pid])
            frontier.extend(p for p, info in found.items() if info["ppid"] == pid)
    return tree


def summarize_memory(table: list[dict]) -> dict:
    """Whole server and per worker: a worker is a leaf process of the tree that is not nginx."""
    parents = {p["ppid"] for p in table}
    workers = [p for p in table if p["pid"] not in parents and not p["name"].startswith("nginx")]
    if not workers:
        workers = table[:1]
    return {
        "pss_bytes": sum(p["pss"] for p in table),
        "rss_bytes": sum(p["rss"] for p in table),
        "workers": len(workers),
        "worker_pss_bytes": int(statistics.mean(p["pss"] for p in workers)) if workers else 0,
        "worker_rss_bytes": int(statistics.mean(p["rss"] for p in workers)) if workers else 0,
        "processes": table,
    }


def run(cmd: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


class Server:
    """A server to measure: started, reached at url() (inside netns_pid's network namespace
    when that is set), its memory read, stopped."""

    name = "server"
    kind = "?"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        return True

    def url(self) -> str:
        raise NotImplementedError

    def netns_pid(self) -> int | None:
        return None

    def memory(self) -> dict:
        raise NotImplementedError

    def logs(self) -> str:
        return ""


def network_mode(requested: str = "auto") -> str:
    """netns: reach a container on its own 127.0.0.1 (needs root); publish: a port on the host's."""
    if requested != "auto":
        return requested
    return "netns" if os.geteuid() == 0 and hasattr(os, "setns") else "publish"


class ContainerServer(Server):
    """`docker run IMAGE serve` with model_dir mounted read-only as /opt/ml/model."""

    kind = "container"

    def __init__(
        self,
        image: str,
        model_dir: Path,
        name: str | None = None,
        port: int = 8080,
        network: str = "auto",
        command: tuple[str, ...] = ("serve",),
        env: dict[str, str] | None = None,
    ):
        self.image, self.model_dir, self.port, self.command = image, Path(model_dir), port, command
        self.name = name or image
        self.network = network_mode(network)
        self.env = env or {}
        self.container: str | None = None
        self._pid: int | None = None
        self._host_port: int | None = None
        self._starts = 0

    def start(self) -> None:
        self._starts += 1
        slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", self.name).strip("-.")
        self.container = f"bench-{slug}-{os.getpid()}-{self._starts}"
        cmd = ["docker", "run", "-d", "--rm", "--name", self.container]
        cmd += ["-v", f"{self.model_dir.resolve()}:/opt/ml/model:ro"]
        for key, value in self.env.items():
            cmd += ["-e", f"{key}={value}"]
        if self.network == "publish":
            cmd += ["-p", f"127.0.0.1::{self.port}"]
        run(cmd + [self.image, *self.command])
        state = json.loads(run(["docker", "inspect", self.container]).stdout)[0]
        self._pid = int(state["State"]["Pid"]) or None
        if self.network == "publish":
            ports = state["NetworkSettings"]["Ports"].get(f"{self.port}/tcp") or []
            if not ports:
                raise BenchError(f"{self.container}: port {self.port} is not published")
            self._host_port = int(ports[0]["HostPort"])

    def stop(self) -> None:
        if self.container:
            run(["docker", "rm", "-f", self.container], check=False)
            self.container = None

    def alive(self) -> bool:
        if not self.container:
            return False
        result = run(["docker", "inspect", self.container], check=False)
        return result.returncode == 0 and json.loads(result.stdout)[0]["State"]["Running"]

    def url(self) -> str:
        if self.network == "publish":
            return f"http://127.0.0.1:{self._host_port}"
        return f"http://127.0.0.1:{self.port}"

    def netns_pid(self) -> int | None:
        return self._pid if self.network == "netns" else None

    def memory(self) -> dict:
        script = inspect.getsource(process_table) + "\nimport json\nprint(json.dumps(process_table(1)))\n"
        result = run(["docker", "exec", self.container, "python3", "-c", script])
        return summarize_memory(json.loads(result.stdout))

    def logs(self) -> str:
        if not self.container:
            return ""
        result = run(["docker", "logs", "--tail", "40", self.container], check=False)
        return result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_netns(pid: int | None, function: Callable, *args, **kwargs):
    """function(*args) with its sockets (and the processes it starts) in pid's network namespace.

    A thread of its own joins the namespace (setns affects only the calling thread), so the
    rest of this process stays in the host's.
    """
    if pid is None:
        return function(*args, **kwargs)
    outcome: dict = {}

    def target() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                os.setns(fd, os.CLONE_NEWNET)
            finally:
                os.close(fd)
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# ---------------------------------------------------------------------------------------------
# Measuring


def send(base_url: str, request: Request, timeout: float = 120) -> tuple[int, bytes, float]:
    """One request on a new connection: (status, body, seconds from connect to the last byte)."""
    parts = urllib.parse.urlsplit(base_url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(request.method, request.path, body=request.body or None, headers=request.headers())
        response = conn.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - started
    finally:
        conn.close()


def wait_healthy(server: Server, request: Request, timeout: float) -> float:
    """Poll until request answers 200; returns time.time() of that answer."""

    def poll() -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, _, _ = send(server.url(), request, timeout=2)
                if status == 200:
                    return time.time()
            except OSError:
                pass
            if not server.alive():
                break
            time.sleep(0.01)
        raise BenchError(f"{server.name} was not healthy on {request.path} within {timeout:.0f} s:\n{server.logs()}")

    return in_netns(server.netns_pid(), poll)


WRK_SCRIPT = r"""-- Written by benchmark.py: one request for every connection, results as one JSON line.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local content_type = os.getenv("BENCH_CONTENT_TYPE")
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end
local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BenchError(f"{tool} is not installed ({hint})")
    return path


def wrk(server: Server, request: Request, concurrency: int, seconds: int, scratch: Path) -> dict:
    """wrk with `concurrency` connections for `seconds` (whole seconds); throughput, latency and errors."""
    wrk_path = require_tool("wrk", "Debian/Ubuntu: apt-get install wrk")
    script = scratch / "bench.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    body_file = scratch / f"body-{abs(hash(request.body))}"
    if request.body and not body_file.exists():
        body_file.write_bytes(request.body)
    env = dict(os.environ)
    env.update(
        BENCH_METHOD=request.method,
        BENCH_CONTENT_TYPE=request.content_type,
        BENCH_BODY_FILE=str(body_file) if request.body else "",
    )
    threads = min(2, concurrency)
    cmd = [wrk_path, "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, int(seconds))}s", "--timeout", "30s"]
    cmd += ["-s", str(script), server.url() + request.path]
    result = in_netns(server.netns_pid(), subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=600)
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip()}\n{result.stdout}")
    raw = json.loads(line.split(" ", 1)[1])
    errors = {key: raw[key] for key in ("connect", "read", "write", "status", "timeout")}
    duration = raw["duration_us"] / 1e6
    return {
        "concurrency": concurrency,
        "threads": threads,
        "seconds": round(duration, 3),
        "requests": raw["requests"],
        "rps": raw["requests"] / duration if duration else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "non_2xx": raw["status"],
    }


@dataclass
class Settings:
    concurrency: tuple[int, ...] = (1, 4, 16)
    seconds: int = 10  # each measured wrk run
    warmup: int = 2  # wrk at the same concurrency first, not counted (0: none)
    rounds: int = 1  # wrk runs per point; the median is reported
    starts: int = 3  # fresh servers timed to the first healthy /ping
    batches: int = 3  # timed batch requests (after one untimed)
    start_timeout: float = 180.0
    log: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr, flush=True))


def _median_run(runs: list[dict]) -> dict:
    """The run with the median throughput, with the errors of every run added up."""
    chosen = dict(sorted(runs, key=lambda r: r["rps"])[len(runs) // 2])
    chosen["errors"] = {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]}
    chosen["non_2xx"] = sum(r["non_2xx"] for r in runs)
    chosen["rounds_rps"] = [round(r["rps"], 1) for r in runs]
    return chosen


def _check_errors(server: Server, what: str, point: dict, failures: list) -> None:
    bad = {k: v for k, v in point["errors"].items() if v}
    if bad:
        failures.append(f"{server.name} {what}: {bad} (status = responses that were not 2xx/3xx)")
    elif point["requests"] == 0:
        failures.append(f"{server.name} {what}: no request completed")


def measure(server: Server, workload: Workload, settings: Settings | None = None) -> dict:
    """Everything this benchmark measures, for one server, which is stopped at the end:
    1. alone: time to healthy (fresh starts), a check of its answers, the batch, memory;
    2. the wrk points (after a warm-up at each), the median of the rounds reported.
    Failures are listed in the result's "failures"."""
    settings = settings or Settings()
    settings.log(f"{server.name}: {workload.description}")
    result = measure_alone(server, workload, settings)
    if result["failures"]:
        return result
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        server.start()
        wait_healthy(server, workload.health, settings.start_timeout)
        for label, request in (("invocations", workload.one_row), ("ping", workload.health)):
            for concurrency in settings.concurrency:
                runs = [wrk_round(server, request, concurrency, settings, scratch, result["failures"], first=not r)
                        for r in range(settings.rounds)]  # fmt: skip
                record_point(server, label, request, concurrency, runs, result, settings)
    except BenchError as exc:
        result["failures"].append(f"{server.name}: {exc}")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def wrk_round(
    server: Server, request: Request, concurrency: int, settings: Settings, scratch: Path, failures: list, first: bool
) -> dict:
    """One measured wrk run at a point, after the warm-up when it is the point's first round."""
    if first and settings.warmup > 0:
        warm = wrk(server, request, concurrency, settings.warmup, scratch)
        _check_errors(server, f"{request.method} {request.path} c={concurrency} (warm-up)", warm, failures)
    return wrk(server, request, concurrency, settings.seconds, scratch)


def record_point(
    server: Server, label: str, request: Request, concurrency: int, runs: list[dict], result: dict, settings: Settings
) -> None:
    """The median of a point's rounds into result[label], its errors into the failures, a log line."""
    point = _median_run(runs)
    _check_errors(server, f"{request.path} c={concurrency}", point, result["failures"])
    result.setdefault(label, {})[str(concurrency)] = point
    settings.log(
        f"  {server.name}: {request.method} {request.path} c={concurrency}: {point['rps']:.0f} req/s "
        f"(rounds {point['rounds_rps']}), p50 {point['p50_ms']:.2f} ms, p99 {point['p99_ms']:.2f} ms"
    )


def measure_alone(server: Server, workload: Workload, settings: Settings) -> dict:
    """Start-up, answers, batch and memory, with the server alone; stopped at the end."""
    log = settings.log
    failures: list[str] = []
    result: dict = {"name": server.name, "kind": server.kind, "workload": workload.description, "failures": failures}
    if isinstance(server, ContainerServer):
        result["network"] = server.network
    try:
        # Time to healthy: fresh servers; the last one stays up for the rest.
        startup = []
        for attempt in range(settings.starts):
            if attempt:
                server.stop()
            started = time.time()
            server.start()
            healthy = wait_healthy(server, workload.health, settings.start_timeout)
            startup.append(healthy - started)
            log(f"  start {attempt + 1}: healthy after {startup[-1]:.2f} s")
        result["startup"] = {"seconds": [round(s, 3) for s in startup], "median_s": statistics.median(startup)}
        result["url"] = server.url()
        result["memory_idle"] = server.memory()

        for label, request, rows in (("one_row", workload.one_row, 1), ("batch", workload.batch, workload.batch_rows)):
            status, body, _ = in_netns(server.netns_pid(), send, server.url(), request)
            if status // 100 != 2 or workload.count_rows(body) != rows:
                got = workload.count_rows(body) if status // 100 == 2 else "?"
                failures.append(f"{server.name} {label}: status {status}, {got} rows: {body[:300]!r}")
        if failures:
            return result
        result["sample_response"] = in_netns(server.netns_pid(), send, server.url(), workload.one_row)[1][:200].decode(
            errors="replace"
        )

        timings = []
        for attempt in range(settings.batches + 1):
            status, body, seconds = in_netns(server.netns_pid(), send, server.url(), workload.batch)
            if status // 100 != 2 or workload.count_rows(body) != workload.batch_rows:
                failures.append(f"{server.name} batch: status {status}, {len(body)} bytes")
            elif attempt:
                timings.append(seconds)
        result["batch"] = {
            "rows": workload.batch_rows,
            "bytes": len(workload.batch.body),
            "seconds": [round(s, 4) for s in timings],
            "median_s": statistics.median(timings) if timings else None,
        }
        if timings:
            log(f"  batch of {workload.batch_rows} rows: {statistics.median(timings):.3f} s (median of {len(timings)})")
        memory = result["memory"] = server.memory()
        log(f"  memory: {memory['pss_bytes'] / MIB:.0f} MiB PSS, {memory['rss_bytes'] / MIB:.0f} MiB RSS")
    except BenchError as exc:
        failures.append(f"{server.name}: {exc}")
    finally:
        server.stop()
    return result


def image_bytes(image: str) -> int:
    return int(json.loads(run(["docker", "image", "inspect", image]).stdout)[0]["Size"])


# ---------------------------------------------------------------------------------------------
# Reporting

# (key, label, unit, lower is better) for every figure; values come from figures().
FIGURES = [
    *[(f"rps_c{c}", f"1-row /invocations, c={c}", "req/s", False) for c in (1, 4, 16)],
    *[(f"p50_c{c}", f"1-row p50 latency, c={c}", "ms", True) for c in (1, 4, 16)],
    *[(f"p99_c{c}", f"1-row p99 latency, c={c}", "ms", True) for c in (1, 4, 16)],
    *[(f"ping_c{c}", f"health route (/ping), c={c}", "req/s", False) for c in (1, 4, 16)],
    *[(f"share_c{c}", f"1-row rate as a share of /ping's, c={c}", "%", False) for c in (1, 4, 16)],
    ("batch_s", "4 MB CSV batch end to end, median of 3", "s", True),
    ("startup_s", "start to first healthy /ping, median of 3", "s", True),
    ("pss_mib", "memory of the whole server after the batch, PSS", "MiB", True),
    ("rss_mib", "memory of the whole server after the batch, RSS", "MiB", True),
    ("idle_pss_mib", "memory of the whole server when idle, PSS", "MiB", True),
    ("worker_pss_mib", "memory per worker, PSS", "MiB", True),
    ("worker_rss_mib", "memory per worker, RSS", "MiB", True),
    ("workers", "workers", "", None),
    ("image_mb", "image size", "MB", True),
]


def figures(result: dict) -> dict[str, float | None]:
    """The flat figures of one measure() result (None: not measured)."""
    out: dict[str, float | None] = {}
    for c in (1, 4, 16):
        inv = result.get("invocations", {}).get(str(c))
        ping = result.get("ping", {}).get(str(c))
        out[f"rps_c{c}"] = inv["rps"] if inv else None
        out[f"p50_c{c}"] = inv["p50_ms"] if inv else None
        out[f"p99_c{c}"] = inv["p99_ms"] if inv else None
        out[f"ping_c{c}"] = ping["rps"] if ping else None
        out[f"share_c{c}"] = 100 * inv["rps"] / ping["rps"] if inv and ping and ping["rps"] else None
    out["batch_s"] = (result.get("batch") or {}).get("median_s")
    out["startup_s"] = (result.get("startup") or {}).get("median_s")
    memory, idle = result.get("memory") or {}, result.get("memory_idle") or {}
    out["pss_mib"] = memory["pss_bytes"] / MIB if memory else None
    out["rss_mib"] = memory["rss_bytes"] / MIB if memory else None
    out["idle_pss_mib"] = idle["pss_bytes"] / MIB if idle else None
    out["worker_pss_mib"] = memory["worker_pss_bytes"] / MIB if memory else None
    out["worker_rss_mib"] = memory["worker_rss_bytes"] / MIB if memory else None
    out["workers"] = memory.get("workers") if memory else None
    out["image_mb"] = result["image_bytes"] / 1e6 if result.get("image_bytes") else None
    return out


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("req/s", "MiB", "MB", "%", ""):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def table(result: dict) -> str:
    values = figures(result)
    rows = [(label + (f" ({unit})" if unit else ""), fmt(values[key], unit)) for key, label, unit, _ in FIGURES]
    width = max(len(r[0]) for r in rows)
    lines = [f"{result['name']} ({result['kind']}): {result['workload']}"]
    lines += [f"  {label:<{width}}  {value:>10}" for label, value in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# This project's image


def ensure_image(image: str, build: bool, log: Callable[[str], None]) -> None:
    if build or run(["docker", "image", "inspect", image], check=False).returncode != 0:
        log(f"building {image} from {PROJECT}")
        started = time.monotonic()
        result = subprocess.run(["docker", "build", "-t", image, str(PROJECT)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"docker build failed:\n{(result.stdout + result.stderr)[-3000:]}")
        log(f"built {image} in {time.monotonic() - started:.0f} s")


def train(image: str, workdir: Path, log: Callable[[str], None]) -> Path:
    """Train on a copy of local_test/test_dir in the container; returns the model folder."""
    opt_ml = workdir / "opt_ml"
    shutil.copytree(TEST_DIR / "input", opt_ml / "input")
    (opt_ml / "model").mkdir()
    (opt_ml / "output").mkdir()
    log(f"training in {image} on {TEST_DIR}")
    result = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{opt_ml}:/opt/ml", image, "train"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BenchError(f"training failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return opt_ml / "model"


def n_features(model_dir: Path) -> int:
    meta = model_dir / "model.json"
    if not meta.is_file():
        raise BenchError(f"no model.json in {model_dir}: train a model first")
    return int(json.loads(meta.read_text(encoding="utf-8"))["n_features"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="image to measure (built if missing)")
    parser.add_argument("--build", action="store_true", help="build the image even if it exists")
    parser.add_argument("--model-dir", type=Path, help="serve this model folder instead of training one")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--seconds", type=int, default=10, help="each measured wrk run, in seconds (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up before each run, 0 for none (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="wrk runs per point, median reported (default 1)")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated (default 1,4,16)")
    parser.add_argument("--network", choices=("auto", "netns", "publish"), default="auto")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
    )
    log = settings.log
    workdir = Path(tempfile.mkdtemp(prefix="bench-project-"))
    try:
        require_tool("docker", "a Docker engine is needed")
        require_tool("wrk", "Debian/Ubuntu: apt-get install wrk")
        ensure_image(args.image, args.build, log)
        model_dir = args.model_dir or train(args.image, workdir, log)
        workload = csv_workload(n_features(model_dir))
        server = ContainerServer(args.image, model_dir, name=args.image, network=args.network)
        log(f"measuring {args.image}, reached through {server.network}")
        if server.network == "publish":
            log("note: through a port published on 127.0.0.1, docker-proxy relays every byte and its cost is in the")
            log("figures; as root, --network netns reaches the container directly on its own 127.0.0.1")
        result = measure(server, workload, settings)
        result["image_bytes"] = image_bytes(args.image)
        result["machine"] = machine()
        result["settings"] = {k: v for k, v in vars(settings).items() if k != "log"}
    except BenchError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(result))
    m = result["machine"]
    print(f"  ({m['cores']} cores, {m['cpu']}, {m['platform']}, {m['date']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for failure in result["failures"]:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
