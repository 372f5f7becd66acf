"""The peer comparison on top of the rendered project's benchmark.py: servers run as host
processes (ours, BentoML, MLflow), and several servers measured fairly on a busy machine.

    compare = load(bm)   # bm: the rendered project's benchmark module
    compare.measure_all({"ours": (server, workload), ...}, settings)

The project's benchmark measures one image; these pieces exist for this repository's bench.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace


def load(bm: ModuleType) -> SimpleNamespace:
    """ProcessServer and measure_all, bound to the project's benchmark module bm."""

    class ProcessServer(bm.Server):
        """A server run as a host process (argv), listening on 127.0.0.1:port."""

        kind = "host process"

        def __init__(self, name: str, argv: list[str], port: int, env: dict | None = None, cwd=None, log=None):
            self.name, self.argv, self.port = name, argv, port
            self.env = env if env is not None else dict(os.environ)
            self.cwd = cwd
            self.log_path = Path(log) if log else Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
            self.proc: subprocess.Popen | None = None

        def start(self) -> None:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )

        def stop(self) -> None:
            if self.proc is None:
                return
            tree = [p["pid"] for p in bm.process_table(self.proc.pid)]
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            # Whatever it started and left behind (children in sessions of their own).
            deadline = time.monotonic() + 10
            for pid in tree[1:]:
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            self.proc = None

        def alive(self) -> bool:
            return self.proc is not None and self.proc.poll() is None

        def url(self) -> str:
            return f"http://127.0.0.1:{self.port}"

        def memory(self) -> dict:
            return bm.summarize_memory(bm.process_table(self.proc.pid))

        def logs(self) -> str:
            try:
                return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
            except OSError:
                return ""


    def _pid_alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat_file:
                return stat_file.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False

    def measure_all(entries: dict, settings=None) -> dict[str, dict]:
        """Everything, for several servers, kept comparable on a busy machine:
        1. each server alone: bm.measure_alone (start-up, answers, batch, memory);
        2. all of them up at once (all idle but the one under load): the wrk points, the servers
           taking turns within each round, so that a change in the machine's background load hits
           them alike. Every server is stopped at the end; failures are in each result's "failures"."""
        settings = settings or bm.Settings()
        results = {}
        for key, (server, workload) in entries.items():
            settings.log(f"{server.name}: {workload.description}")
            results[key] = bm.measure_alone(server, workload, settings)
        ready = {key: entry for key, entry in entries.items() if not results[key]["failures"]}
        if ready:
            _measure_load(ready, results, settings)
        return results

    def _measure_load(entries: dict, results: dict[str, dict], settings) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-"))
        live = {}
        try:
            for key, (server, workload) in entries.items():
                try:
                    server.start()
                    live[key] = (server, workload)
                    bm.wait_healthy(server, workload.health, settings.start_timeout)
                except bm.BenchError as exc:
                    results[key]["failures"].append(f"{server.name}: {exc}")
                    live.pop(key, None)
            names = ", ".join(server.name for server, _ in live.values())
            rounds = f"{settings.rounds} round(s) of {settings.seconds} s per point"
            settings.log(f"load: {names} up; {rounds}, taking turns")
            for label, pick in (("invocations", lambda w: w.one_row), ("ping", lambda w: w.health)):
                for concurrency in settings.concurrency:
                    runs: dict[str, list[dict]] = {key: [] for key in live}
                    for round_number in range(settings.rounds):
                        for key, (server, workload) in list(live.items()):
                            failures = results[key]["failures"]
                            try:
                                runs[key].append(bm.wrk_round(server, pick(workload), concurrency, settings, scratch,
                                                              failures, first=round_number == 0))  # fmt: skip
                            except bm.BenchError as exc:  # wrk could not run against it: left out from now on
                                failures.append(f"{server.name} c={concurrency}: {exc}")
                                del live[key]
                    for key, (server, workload) in live.items():
                        bm.record_point(server, label, pick(workload), concurrency, runs[key], results[key], settings)
        finally:
            for server, _ in entries.values():
                server.stop()
            shutil.rmtree(scratch, ignore_errors=True)

    return SimpleNamespace(ProcessServer=ProcessServer, measure_all=measure_all)
