"""The image run as SageMaker runs it: real containers, real HTTP, real signals.

test_contract.py runs the serving contract against the image too; test_train.py and
test_serve.py check the programs as host processes. This file checks what only the built
image can show: its CMD, PATH, user and label; /opt/ml mounted from
outside (read-only where SageMaker mounts it so); `docker stop` reaching the program as
PID 1; the logs in `docker logs`; and the local_test scripts run exactly as the README
tells a user to run them.

Every container runs the built image by ID (a tag can move during a run), is named
byoc-test-<run>-<role>-<n> (serve_local.sh's own container is found by its mount),
answers only on 127.0.0.1 (each one publishes its port to a free host port) and is
removed at the end, even when a test fails. Starting a container costs seconds of CPU
(the framework's imports), so the training jobs start side by side in one fixture, and
so do the serving containers.
"""

import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import (
    ANY_BUT_502,
    N_FEATURES,
    PROJECT,
    TEST_DIR,
    docker,
    is_complete_model,
    regression_data,
    wait_for_answer,
    write_channel,
)
from endpoints import RunningContainer as Container
from endpoints import poll, workers

pytestmark = pytest.mark.container

RUN = secrets.token_hex(3)
LOCAL_TEST = PROJECT / "local_test"
PAYLOAD = LOCAL_TEST / "payload.csv"
HOSTING_STOP_SECONDS = 30  # endpoints: SIGKILL 30 s after SIGTERM
TRAINING_STOP_BOUND = 30  # training allows 120 s; a prompt stop takes a few
STARTUP_SECONDS = 240  # every serving container starts at once: generous, CPU-bound
BODY_LIMIT = 6_291_456  # InvokeEndpoint's largest body

# The TCP ports something listens on inside the container (state 0A is LISTEN).
# What the model in /opt/ml/model predicts for /tmp/rows.csv, computed by the image itself.
PREDICT = """
import json, sys
from pathlib import Path
import numpy as np
sys.path[:0] = ["/opt/program/decision_trees", "/opt/program"]  # as train and serve do
from contract import interface, model_artifact
model = model_artifact.load(interface.load_model_code(), Path("/opt/ml/model"))
rows = model.decode(Path("/tmp/rows.csv").read_bytes(), "text/csv")
print(json.dumps(model.predict(rows).tolist()))
"""

# Facts about the image's own filesystem, from a container with nothing mounted.
IMAGE_FACTS = """
import json, os, shutil
facts = {"uid": os.getuid(), "opt_ml": os.path.exists("/opt/ml") and sorted(os.listdir("/opt/ml")), "programs": {}}
for name in ("train", "serve"):
    path = shutil.which(name)
    data = open(path, "rb").read() if path else b""
    shebang = data.split(b"\\n", 1)[0].decode(errors="replace")
    interpreter = shebang[2:].split()
    if interpreter[:1] == ["/usr/bin/env"]:
        interpreter = interpreter[1:]
    facts["programs"][name] = {
        "path": path,
        "executable": bool(path) and os.access(path, os.X_OK),
        "shebang": shebang,
        "carriage_returns": data.count(b"\\r"),
        "interpreter_found": bool(interpreter) and shutil.which(interpreter[0]) is not None,
    }
print(json.dumps(facts))
"""


# ---------------------------------------------------------------- docker helpers


def mount(host: Path, target: str, read_only: bool = False) -> str:
    return f"{host}:{target}" + (":ro" if read_only else "")


class Launcher:
    """Starts containers of the image and removes every one of them at the end."""

    def __init__(self, image: str):
        self.image = image
        self.names: list[str] = []
        self.numbers = itertools.count()

    def start(self, role: str, *args: str, env=None, volumes=(), options=(), port=8080, publish=True) -> Container:
        name = f"byoc-test-{RUN}-{role}-{next(self.numbers)}"
        command = ["run", "-d", "--name", name]
        for key, value in (env or {}).items():
            command += ["-e", f"{key}={value}"]
        for volume in volumes:
            command += ["-v", volume]
        if publish:
            command += ["-p", f"127.0.0.1::{port}"]  # a free host port, loopback only
        self.names.append(name)
        docker(*command, *options, self.image, *args)
        return Container(name, port)

    def start_all(self, specs: dict[str, dict]) -> dict[str, Container]:
        """Several containers at once (each `docker run` takes the daemon most of a second)."""

        def start(role: str, spec: dict) -> Container:
            options = dict(spec)
            return self.start(role, *options.pop("args", ()), **options)

        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = {role: pool.submit(start, role, spec) for role, spec in specs.items()}
        return {role: future.result() for role, future in futures.items()}

    def remove_all(self) -> None:
        if self.names:
            docker("rm", "-f", "-v", *self.names, check=False, timeout=120)


def wait_for_ping(container: Container, healthy: bool = True, timeout: float = STARTUP_SECONDS) -> requests.Response:
    """The first /ping answer from the model server (200 if healthy=True; any but 502 if not)."""
    return wait_for_answer(container.url + "/ping", timeout, container.running, container.logs,
                           (200,) if healthy else ANY_BUT_502)  # fmt: skip


def post(container: Container, body: bytes, headers: dict, timeout: float = 60) -> requests.Response:
    return requests.post(container.url + "/invocations", data=body, headers=headers, timeout=timeout)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# ---------------------------------------------------------------- data helpers


def new_opt_ml(root: Path) -> Path:
    """A fresh /opt/ml: the sample config and data, and the empty model/ and output/."""
    shutil.copytree(TEST_DIR / "input", root / "input")
    (root / "model").mkdir()
    (root / "output").mkdir()
    return root


def as_csv_lines(predictions: list) -> list[str]:
    """The text/csv answer for these predictions: labels as they are, numbers as repr."""
    return [p if isinstance(p, str) else repr(float(p)) for p in predictions]


def model_files(opt_ml: Path) -> list[str]:
    """Everything in model/, hidden files included (a staging folder would show here)."""
    return sorted(p.name for p in (opt_ml / "model").iterdir())


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def image_id(image) -> str:
    """The built image by ID: a tag can move under a running test (another build, another run)."""
    return json.loads(docker("image", "inspect", image).stdout)[0]["Id"]


@pytest.fixture(scope="module")
def module_launcher(image_id):
    launcher = Launcher(image_id)
    yield launcher
    launcher.remove_all()


@pytest.fixture
def launcher(image_id):
    launcher = Launcher(image_id)
    yield launcher
    launcher.remove_all()


def predict_in_image(launcher: Launcher, model_dir: Path, rows_csv: Path) -> list:
    container = launcher.start(
        "predict",
        "-c",
        PREDICT,
        volumes=[mount(model_dir, "/opt/ml/model", True), mount(rows_csv, "/tmp/rows.csv", True)],
        options=["--entrypoint", "python3"],
        publish=False,
    )
    assert container.wait(timeout=180) == 0, container.logs()
    return json.loads(container.stdout().strip().splitlines()[-1])


@dataclass
class TrainingRun:
    opt_ml: Path
    container: Container
    exit_code: int
    log: str


@pytest.fixture(scope="module")
def trainings(module_launcher, tmp_path_factory) -> dict[str, TrainingRun]:
    """Training jobs, all started at once, each on its own copy of the sample /opt/ml."""
    root = tmp_path_factory.mktemp("trainings")
    roles = ("sample", "cmd", "ro-input", "ro-image", "unknown-hp", "no-channel")
    opt_ml = {role: new_opt_ml(root / role) for role in roles}
    (opt_ml["unknown-hp"] / "input" / "config" / "hyperparameters.json").write_text('{"no_such_knob": "3"}')
    shutil.rmtree(opt_ml["no-channel"] / "input" / "data" / "training")

    def whole(key):
        return [mount(opt_ml[key], "/opt/ml")]

    specs = {
        "sample": {"args": ["train"], "volumes": whole("sample")},  # docker run IMAGE train
        "cmd": {"args": [], "volumes": whole("cmd")},  # docker run IMAGE: the image's CMD
        # FastFile mounts the channels read-only.
        "ro-input": {
            "args": ["train"],
            "volumes": whole("ro-input") + [mount(opt_ml["ro-input"] / "input", "/opt/ml/input", True)],
        },
        # Only model/, output/ and /tmp writable: a job that writes anywhere else fails here.
        "ro-image": {
            "args": ["train"],
            "volumes": [
                mount(opt_ml["ro-image"] / "input", "/opt/ml/input", True),
                mount(opt_ml["ro-image"] / "model", "/opt/ml/model"),
                mount(opt_ml["ro-image"] / "output", "/opt/ml/output"),
            ],
            "options": ["--read-only", "--tmpfs", "/tmp"],
        },
        "unknown-hp": {"args": ["train"], "volumes": whole("unknown-hp")},
        "no-channel": {"args": ["train"], "volumes": whole("no-channel")},
    }
    containers = module_launcher.start_all({key: dict(spec, publish=False) for key, spec in specs.items()})
    runs = {}
    for key, container in containers.items():
        exit_code = container.wait(timeout=300)
        runs[key] = TrainingRun(opt_ml[key], container, exit_code, container.logs())
    return runs


@pytest.fixture(scope="module")
def model_dir(trainings) -> Path:
    run = trainings["sample"]
    assert run.exit_code == 0, run.log
    return run.opt_ml / "model"


@pytest.fixture(scope="module")
def predictions(module_launcher, model_dir) -> list:
    """What the trained model predicts for local_test/payload.csv, row by row."""
    return predict_in_image(module_launcher, model_dir, PAYLOAD)


@pytest.fixture(scope="module")
def servers(module_launcher, model_dir, tmp_path_factory) -> dict[str, Container]:
    """Serving containers for what only the image shows (test_contract.py has the contract itself),
    all started at once; a test waits for its own to be healthy."""
    model = mount(model_dir, "/opt/ml/model", True)  # SageMaker treats /opt/ml/model as read-only
    one = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}  # where the worker count does not matter
    specs = {
        "main": {"volumes": [model]},  # default settings; read-only checks only
        "ro-image": {"env": one, "volumes": [model], "options": ["--read-only", "--tmpfs", "/tmp"]},
        "one-cpu": {"volumes": [model], "options": ["--cpus", "1"]},  # a CPU quota, as an inference component gets
    }
    return module_launcher.start_all({role: dict(spec, args=["serve"]) for role, spec in specs.items()})


@pytest.fixture(scope="module")
def image_facts(module_launcher) -> dict:
    container = module_launcher.start("facts", "-c", IMAGE_FACTS, options=["--entrypoint", "python3"], publish=False)
    assert container.wait(timeout=60) == 0, container.logs()
    return json.loads(container.stdout())


@pytest.fixture(scope="module")
def image_config(image_id) -> dict:
    return json.loads(docker("image", "inspect", image_id).stdout)[0]["Config"]


# ---------------------------------------------------------------- the image (C1-C5)


def test_train_and_serve_are_on_the_path(image_id):
    name = f"byoc-test-{RUN}-which"
    result = docker("run", "--rm", "--name", name, "--entrypoint", "which", image_id, "train", "serve")
    paths = result.stdout.split()
    assert [Path(p).name for p in paths] == ["train", "serve"]
    assert all(p.startswith("/opt/program/contract/") for p in paths), paths


@pytest.mark.parametrize("program", ["train", "serve"])
def test_programs_are_executable_with_an_lf_shebang(image_facts, program):
    facts = image_facts["programs"][program]
    assert facts["executable"], facts
    assert facts["shebang"].startswith("#!"), facts
    assert facts["carriage_returns"] == 0, f"{program} has CRLF line endings: /usr/bin/env: 'python3\\r'"
    assert facts["interpreter_found"], facts


def test_runs_as_root_with_nothing_baked_under_opt_ml(image_facts, image_config):
    assert image_config.get("User") in ("", None, "root", "0", "0:0")
    assert image_facts["uid"] == 0
    # SageMaker mounts /opt/ml over the image: anything baked there would vanish.
    assert image_facts["opt_ml"] in (False, []), image_facts["opt_ml"]


def test_cmd_is_train_and_the_entrypoint_lets_arguments_through(image_config):
    assert image_config.get("Cmd") == ["train"]
    entrypoint = image_config.get("Entrypoint") or []
    # A shell-form ENTRYPOINT would swallow `train`/`serve` and SIGTERM.
    assert entrypoint[:2] != ["/bin/sh", "-c"], entrypoint


def test_labels_and_environment(image_config):
    assert image_config["Labels"].get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") == "true"
    assert image_config["Labels"].get("com.amazonaws.sagemaker.capabilities.multi-models") == "true"
    env = dict(item.split("=", 1) for item in image_config.get("Env") or [])
    assert env.get("PYTHONUNBUFFERED", "") not in ("", "0"), env


# ---------------------------------------------------------------- training (C1, C2, C9-C11, C13, C14)


def test_docker_run_train_writes_the_model_to_the_mounted_dir(trainings):
    run = trainings["sample"]
    assert run.exit_code == 0, run.log
    meta = json.loads((run.opt_ml / "model" / "model.json").read_text())
    assert is_complete_model(model_files(run.opt_ml)), model_files(run.opt_ml)
    assert not [name for name in model_files(run.opt_ml) if name.startswith(".")]
    assert meta["n_features"] == N_FEATURES
    assert not (run.opt_ml / "output" / "failure").exists()
    # Metric lines reach `docker logs` (and so CloudWatch and MetricDefinitions).
    assert re.search(r"^(train|validation):\w+=[-+.\deE]+$", run.log, re.M), run.log


def test_docker_run_without_arguments_trains(trainings):
    run = trainings["cmd"]
    assert run.exit_code == 0, run.log
    assert (run.opt_ml / "model" / "model.json").is_file()


@pytest.mark.parametrize("key", ["ro-input", "ro-image"])
def test_trains_with_read_only_input_and_writes_nowhere_else(trainings, key):
    """ro-input: channels mounted :ro (FastFile). ro-image: only model/, output/ and /tmp writable."""
    run = trainings[key]
    assert run.exit_code == 0, run.log
    assert (run.opt_ml / "model" / "model.json").is_file()


@pytest.mark.parametrize("key, word", [("unknown-hp", "no_such_knob"), ("no-channel", "training")])
def test_a_failing_job_exits_non_zero_with_a_reason_and_no_model(trainings, key, word):
    run = trainings[key]
    assert run.exit_code != 0, run.log
    reason = (run.opt_ml / "output" / "failure").read_text()
    assert 0 < len(reason) <= 1024
    assert word in reason, reason
    assert "Traceback" in run.log
    assert model_files(run.opt_ml) == []


def test_docker_stop_ends_a_long_training_promptly_without_a_model(launcher, tmp_path):
    opt_ml = new_opt_ml(tmp_path / "opt_ml")
    y, X = regression_data(40_000, 20, seed=3)
    write_channel(opt_ml, "training", y, X)
    write_channel(opt_ml, "validation", y[:5_000], X[:5_000])
    channel = opt_ml / "input" / "data" / "training"
    for copy in range(1, 4):  # 160,000 rows (seconds of fitting), without the cost of formatting them all
        shutil.copyfile(channel / "part-0.csv", channel / f"part-{copy}.csv")
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    container = launcher.start("long-train", "train", volumes=[mount(opt_ml, "/opt/ml")], publish=False)
    with subprocess.Popen(
        ["docker", "logs", "-f", container.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as follow:
        for line in follow.stdout:  # unbuffered output: the line shows while the job runs
            if line.startswith("task:"):  # fitting starts right after this line
                break
        follow.kill()
    assert container.running(), f"training ended before it could be stopped (make the data bigger):\n{container.logs()}"
    started = time.monotonic()
    docker("stop", "-t", "120", container.name, timeout=150)  # StopTrainingJob: SIGTERM, SIGKILL after 120 s
    seconds = time.monotonic() - started
    state = container.inspect()["State"]
    print(f"docker stop ended the training in {seconds:.1f} s (exit code {state['ExitCode']})")
    assert seconds < TRAINING_STOP_BOUND
    assert state["ExitCode"] not in (0, 137), container.logs()  # stopped by itself, not killed
    assert model_files(opt_ml) == []
    reason = (opt_ml / "output" / "failure").read_text()
    assert 0 < len(reason) <= 1024


# ---------------------------------------------------------------- the user's own flow (C39, C30)


@pytest.mark.exclusive
def test_the_local_test_scripts_as_the_readme_tells_them(launcher, image_id, tmp_path):
    """train_local.sh, serve_local.sh and predict.sh on a copy of local_test/."""
    project = tmp_path / "project"
    shutil.copytree(LOCAL_TEST, project / "local_test", ignore=shutil.ignore_patterns("model", "output"))
    train = subprocess.run(
        ["local_test/train_local.sh", image_id], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert train.returncode == 0, train.stdout + train.stderr
    model = project / "local_test" / "test_dir" / "model"
    assert (model / "model.json").is_file()
    expected = as_csv_lines(predict_in_image(launcher, model, PAYLOAD))

    if not port_is_free(8080):
        message = "something on 127.0.0.1:8080 already answers (serve_local.sh running?)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    log_path = tmp_path / "serve_local.log"
    with open(log_path, "wb") as log:
        started = time.monotonic()
        serve = subprocess.Popen(["local_test/serve_local.sh", image_id], cwd=project, stdout=log, stderr=log)
    try:

        def started_container():
            """The container serve_local.sh started: the one that mounts this copy's model folder."""
            ids = docker("ps", "-q").stdout.split()
            for info in json.loads(docker("inspect", *ids, check=False).stdout or "[]") if ids else []:
                if any(Path(m["Source"]).parts[-6:] == model.parts[-6:] for m in info["Mounts"]):
                    return Container(info["Name"].lstrip("/"))
            assert serve.poll() is None, log_path.read_text()
            return None

        container = poll(started_container, 60, "serve_local.sh started no container")
        launcher.names.append(container.name)  # removed at the end whatever happens
        poll(lambda: not port_is_free(8080), 60, "nothing listens on 127.0.0.1:8080")
        container.url = "http://127.0.0.1:8080"
        wait_for_ping(container)
        print(f"serve_local.sh: healthy {time.monotonic() - started:.1f} s after it started")

        predict = subprocess.run(
            ["local_test/predict.sh", "local_test/payload.csv"], cwd=project, capture_output=True, text=True, timeout=60
        )
        assert predict.returncode == 0, predict.stdout + predict.stderr
        assert predict.stdout.splitlines() == expected

        docker("stop", "-t", str(HOSTING_STOP_SECONDS), container.name, timeout=60)
        assert serve.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if serve.poll() is None:
            serve.kill()


# ---------------------------------------------------------------- serving, read-only checks (C16-C32)


def test_serves_a_read_only_model_dir(servers):
    mounts = {m["Destination"]: m for m in servers["main"].inspect()["Mounts"]}
    assert mounts["/opt/ml/model"]["RW"] is False
    wait_for_ping(servers["main"])


def test_default_worker_count_is_the_cpu_count(servers):
    main = servers["main"]
    wait_for_ping(main)
    cpus = int(main.python("import os; print(len(os.sched_getaffinity(0)))"))
    assert len(workers(main)) == cpus


def test_worker_count_follows_the_cpu_quota(servers):
    """`--cpus 1` (a quota, as NumberOfCpuCoresRequired sets) leaves every core in the CPU set,
    yet gives the container one core's time: one worker, not one per host core."""
    limited = servers["one-cpu"]
    wait_for_ping(limited)
    assert len(workers(limited)) == 1
    assert "(1 workers," in limited.logs()


def test_nginx_and_gunicorn_logs_reach_docker_logs(servers):
    main = servers["main"]
    wait_for_ping(main)
    requests.get(main.url + "/nowhere", timeout=2)  # failures reach the access log (ACCESS_LOG=errors)
    poll(lambda: re.search(r'"GET /nowhere HTTP/1\.1" 404', main.logs()), 10, "no nginx access log line")
    logs = main.logs()
    assert re.search(r"\[INFO\] (Booting worker|Listening at)", logs), logs


# ---------------------------------------------------------------- serving, one container per case


def test_serves_with_a_read_only_root_filesystem(servers, predictions):
    """Only /tmp writable (as serverless may be): nginx's and gunicorn's scratch files go there."""
    container = servers["ro-image"]
    wait_for_ping(container)
    response = post(container, PAYLOAD.read_bytes(), {"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.text.splitlines() == as_csv_lines(predictions)
