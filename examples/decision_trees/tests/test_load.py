"""The real container under load and faults: a soak of 1-row requests and 6 MB batches, and a full /tmp.

Figures are printed at the end of the run; the assertions are about errors and memory
growth, never about speed (timings on a shared machine are noise).
"""

import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import FIGURES, PROJECT, SAMPLE_ROW, TEXT, require_tool
from endpoints import serving_container

pytestmark = pytest.mark.container
SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "60"))
WARM_UP_SECONDS = 10
WARM_UP_BATCHES = 6
SAMPLES = 12  # memory samples from warm-up to the end, taken between batches
# A leak raises every later sample; a worker that keeps a finished batch's heap for a while
# raises one. So growth is judged floor to floor: the lowest sample of the second half against
# the lowest of the first. Two single samples were noise: a boosted model once ended 13.7% above its
# warm-up sample with no trend. Text batches are millions of small Python strings, and what a
# worker keeps between them swings more: 60 sequential 6 MB batches of the README's text
# classifier sampled every 10 ranged over 291-331 MiB with no trend.
LEAK_TOLERANCE = 0.20 if TEXT else 0.10
MEMORY = """
import glob
total = 0
for path in glob.glob('/proc/[0-9]*/smaps_rollup'):
    try:
        total += sum(int(line.split()[1]) for line in open(path) if line.startswith('Pss:'))
    except OSError:
        pass
print(total)
"""


def server_memory_kib(name: str) -> int:
    """Proportional set size of every process in the container (nginx, gunicorn, workers)."""
    out = subprocess.run(["docker", "exec", name, "python3", "-c", MEMORY], capture_output=True, text=True, check=True)
    return int(out.stdout)


def six_mb_batch() -> bytes:
    rows = (PROJECT / "local_test" / "payload.csv").read_bytes().strip().split(b"\n")
    lines, size = [], 0
    while size < 6_000_000:
        line = rows[len(lines) % len(rows)]
        lines.append(line)
        size += len(line) + 1
    return b"\n".join(lines) + b"\n"


def wrk_lua(tmp_path, body: bytes) -> str:
    script = tmp_path / "post.lua"
    escaped = body.decode().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    script.write_text(f'wrk.method = "POST"\nwrk.body = "{escaped}"\nwrk.headers["Content-Type"] = "text/csv"\n')
    return str(script)


def warm_every_worker(url: str, batch: bytes) -> None:
    """Batches at once, twice as many as the workers (one per core), so that each worker serves one.

    A worker keeps up to MALLOC_TRIM_THRESHOLD_ of heap after its first batch: memory is first sampled
    after that, and growth from then on would be a leak.
    """
    count = 2 * len(os.sched_getaffinity(0))

    def post(_: int) -> int:
        response = requests.post(url + "/invocations", data=batch, headers={"Content-Type": "text/csv"}, timeout=120)
        return response.status_code

    with ThreadPoolExecutor(count) as pool:
        statuses = list(pool.map(post, range(count)))
    assert statuses == [200] * count, statuses


def test_soak_at_concurrency_64_with_6_mb_batches(image, trained, tmp_path):
    require_tool("wrk")
    one_row = (PROJECT / "local_test" / "payload.csv").read_bytes().split(b"\n")[0] + b"\n"
    batch = six_mb_batch()
    with serving_container(image, trained / "model", prefix="byoc-soak") as (url, name):
        warm_every_worker(url, batch)
        stop, batches = threading.Event(), {"ok": 0, "failed": []}
        between_batches = threading.Lock()  # memory is sampled between batches, not with one in flight

        def post_batches():
            while not stop.is_set():
                with between_batches:
                    response = requests.post(
                        url + "/invocations", data=batch, headers={"Content-Type": "text/csv"}, timeout=120
                    )
                if response.status_code == 200 and response.text.count("\n") + 1 == batch.count(b"\n"):
                    batches["ok"] += 1
                else:
                    batches["failed"].append(response.status_code)

        memory: list[int] = []

        def sample():  # warm first: some seconds of load, and a few batches in every worker
            deadline = time.monotonic() + SOAK_SECONDS / 2
            while batches["ok"] < WARM_UP_BATCHES and time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.5)
            every = (SOAK_SECONDS - WARM_UP_SECONDS) / SAMPLES
            while not stop.wait(every):
                with between_batches:
                    memory.append(server_memory_kib(name))

        sampler = threading.Timer(WARM_UP_SECONDS, sample)
        batcher = threading.Thread(target=post_batches)
        sampler.start()
        batcher.start()
        script = wrk_lua(tmp_path, one_row)
        wrk = subprocess.run(
            ["wrk", "-t2", "-c64", f"-d{SOAK_SECONDS}s", "--latency", "--timeout", "30s", "-s", script,
             url + "/invocations"],
            capture_output=True, text=True,
        )  # fmt: skip
        stop.set()
        batcher.join()
        sampler.join()
        sampler.cancel()
        memory.append(server_memory_kib(name))  # after the load: no batch in flight
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
    out = wrk.stdout
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    half = len(memory) // 2
    first, second = min(memory[:half] or memory), min(memory[half:])
    growth = second / first - 1
    FIGURES.append(
        f"soak {SOAK_SECONDS} s, 1-row at concurrency 64: {requests_done} requests, {non_2xx} non-2xx, "
        f"{socket_errors} socket errors, p99 {p99}; 6 MB batches alongside: {batches['ok']} ok, "
        f"{len(batches['failed'])} failed; server memory in {len(memory)} samples "
        f"{min(memory) / 1024:.0f}-{max(memory) / 1024:.0f} MiB, floor {first / 1024:.0f} MiB in the first "
        f"half and {second / 1024:.0f} MiB in the second ({growth:+.1%})"
    )
    assert wrk.returncode == 0, wrk.stderr
    assert requests_done > 0 and non_2xx == 0 and socket_errors == 0, out
    assert batches["ok"] > 0 and not batches["failed"], batches
    assert "WORKER TIMEOUT" not in logs.stdout + logs.stderr
    assert growth < LEAK_TOLERANCE


def test_a_full_tmp_fails_only_that_request(image, trained):
    """nginx keeps bodies over 8 MB in /tmp; with /tmp full that request gets a 5xx, and serving goes on."""
    one_row = SAMPLE_ROW.strip()
    body = (one_row + b"\n") * (16 * 1024 * 1024 // (len(one_row) + 1))
    with serving_container(image, trained / "model", "--tmpfs", "/tmp:rw,size=4m", prefix="byoc-tmpfull") as (url, _):
        response = requests.post(url + "/invocations", data=body, headers={"Content-Type": "text/csv"}, timeout=120)
        assert 500 <= response.status_code < 600
        assert response.json()["error"]
        assert requests.get(url + "/ping", timeout=2).status_code == 200
        small = requests.post(url + "/invocations", data=one_row, headers={"Content-Type": "text/csv"}, timeout=10)
        assert small.status_code == 200
