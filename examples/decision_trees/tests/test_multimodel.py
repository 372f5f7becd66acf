"""Multi-model endpoints: the container's /models API, driven with the calls SageMaker's MME host
makes (POST /models with the folder it unpacked a model.tar.gz into, then invokes, lists and
unloads), against a host `serve` (`make test`) and the image (`make test-container`).

The models are the project's own: model.py trained on four different thirds of the sample
data (so that a mix-up between models shows), laid out as fifty model folders as SageMaker
lays them out under /opt/ml/models/<name>/model.
"""

import json
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import FIGURES, PAYLOAD, TEST_DIR, docker, load_model, read_rows, run_train
from endpoints import ContainerEndpoint, HostEndpoint, poll, workers

pytestmark = pytest.mark.deep  # multi-model endpoints' /models API, the contract's model store (make test-all)

VARIANTS = 4
MODELS = 50
CSV = {"Content-Type": "text/csv", "Accept": "text/csv"}
CONTAINER_MODELS = "/opt/ml/models"  # where SageMaker unpacks each model: <this>/<name>/model
# Two workers, so that "every worker" means something.
MME_ENV = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}


@pytest.fixture(scope="module", params=["host", pytest.param("container", marks=pytest.mark.container)])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> list[tuple[Path, list[str]]]:
    """Four models of model.py, each trained without a different quarter of the training rows,
    with what each predicts for the sample payload."""
    found = []
    for k in range(VARIANTS):
        opt_ml = tmp_path_factory.mktemp(f"variant-{k}") / "opt_ml"
        shutil.copytree(TEST_DIR / "input", opt_ml / "input")
        for path in (opt_ml / "input" / "data" / "training").iterdir():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            # The first line stays (it may be the header); every fourth of the others goes.
            path.write_text("".join(lines[:1] + [x for i, x in enumerate(lines[1:]) if i % VARIANTS != k]))
        result = run_train(opt_ml)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        model_dir = opt_ml / "model"
        found.append((model_dir, [str(v) for v in load_model(model_dir).predict(read_rows(PAYLOAD))]))  # CSV lines
    return found


@pytest.fixture(scope="module")
def models_root(variants, tmp_path_factory) -> Path:
    """/opt/ml/models as SageMaker fills it: one folder per model name, each an unpacked model.tar.gz."""
    root = tmp_path_factory.mktemp("mme") / "models"
    for i in range(MODELS):
        shutil.copytree(variants[i % VARIANTS][0], root / model_name(i) / "model")
    return root


def model_name(i: int) -> str:
    return f"model-{i:02d}"


@pytest.fixture
def mme(backend, models_root, request, tmp_path):
    """start(**env) -> (endpoint, url_of(name)): a multi-model server with nothing loaded."""
    started = []

    def start(**env):
        env = {**MME_ENV, **env}
        if backend == "host":
            empty = tmp_path / "opt_ml"  # no /opt/ml/model at all
            empty.mkdir(exist_ok=True)
            endpoint = HostEndpoint(empty, tmp_path, **env)
            url_of = lambda name: str(models_root / name / "model")  # noqa: E731
        else:
            mount = ["-v", f"{models_root}:{CONTAINER_MODELS}:ro"]
            image = request.getfixturevalue("image")
            endpoint = ContainerEndpoint(image, None, options=mount, prefix="byoc-mme", **env)
            url_of = lambda name: f"{CONTAINER_MODELS}/{name}/model"  # noqa: E731
        started.append(endpoint)
        return endpoint, url_of

    yield start
    for endpoint in started:
        endpoint.remove()


def load(endpoint, name: str, url: str) -> requests.Response:
    return requests.post(f"{endpoint.url}/models", json={"model_name": name, "url": url}, timeout=60)


def invoke(endpoint, name: str, headers=CSV, body: bytes | None = None) -> requests.Response:
    data = PAYLOAD.read_bytes() if body is None else body
    return requests.post(f"{endpoint.url}/models/{name}/invoke", data=data, headers=headers, timeout=60)


def listed(endpoint, limit: int) -> list[str]:
    """Every model name, page by page, following nextPageToken."""
    names, token = [], None
    while True:
        params = {"limit": limit, **({"next_page_token": token} if token else {})}
        page = requests.get(f"{endpoint.url}/models", params=params, timeout=10)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["models"]) <= limit
        names += [m["modelName"] for m in body["models"]]
        token = body.get("nextPageToken")
        if token is None:
            return names


def expected(variants, i: int) -> list[str]:
    return variants[i % VARIANTS][1]


def check_all_answer(endpoint, variants, indices) -> float:
    """Every model answers with its own predictions, four requests at a time (so every worker
    takes some); returns the slowest answer's seconds."""

    def one(i: int) -> float:
        started = time.monotonic()
        response = invoke(endpoint, model_name(i))
        assert response.status_code == 200, (model_name(i), response.text)
        assert response.text.splitlines() == expected(variants, i), model_name(i)
        return time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        return max(pool.map(one, list(indices)))


def test_healthy_with_no_model_and_no_opt_ml_model(mme):
    endpoint, _ = mme()
    ping = requests.get(endpoint.url + "/ping", timeout=2)
    assert ping.status_code == 200 and ping.content == b""
    assert requests.get(endpoint.url + "/models", timeout=5).json() == {"models": []}
    single = requests.post(endpoint.url + "/invocations", data=PAYLOAD.read_bytes(), headers=CSV, timeout=5)
    assert single.status_code == 404 and "/models/" in single.json()["error"]


def test_fifty_models_load_answer_survive_new_workers_unload_and_reload(mme, variants, backend):
    endpoint, url_of = mme()
    memory_before = container_memory(endpoint)
    load_seconds = []
    for i in range(MODELS):
        started = time.monotonic()
        response = load(endpoint, model_name(i), url_of(model_name(i)))
        load_seconds.append(time.monotonic() - started)
        assert response.status_code == 200, response.text
        assert response.json() == {"modelName": model_name(i), "modelUrl": url_of(model_name(i))}

    assert sorted(listed(endpoint, limit=20)) == [model_name(i) for i in range(MODELS)]
    described = requests.get(f"{endpoint.url}/models/{model_name(7)}", timeout=5)
    assert described.json() == {"modelName": model_name(7), "modelUrl": url_of(model_name(7))}

    check_all_answer(endpoint, variants, range(MODELS))  # every worker loads what another registered
    invoke_seconds = [time.monotonic()]
    for i in range(MODELS):
        assert invoke(endpoint, model_name(i)).status_code == 200
    invoke_seconds = (time.monotonic() - invoke_seconds[0]) / MODELS
    memory_after = container_memory(endpoint)

    # Workers replaced (SIGKILL, as the OOM killer would): the new ones serve every model at once.
    before = workers(endpoint)
    for pid in before:
        endpoint.kill(pid, signal.SIGKILL)
    poll(lambda: (w := workers(endpoint)) and len(w) == len(before) and not set(w) & set(before), 60, "no new workers")
    check_all_answer(endpoint, variants, range(MODELS))

    # Unload every other model: gone for every worker, and a second DELETE is a 404.
    gone = range(0, MODELS, 2)
    for i in gone:
        assert requests.delete(f"{endpoint.url}/models/{model_name(i)}", timeout=10).status_code == 200
    for i in gone:
        assert invoke(endpoint, model_name(i)).status_code == 404
        assert requests.get(f"{endpoint.url}/models/{model_name(i)}", timeout=5).status_code == 404
    assert requests.delete(f"{endpoint.url}/models/{model_name(0)}", timeout=5).status_code == 404
    assert sorted(listed(endpoint, limit=7)) == [model_name(i) for i in range(1, MODELS, 2)]

    # Loaded again (the same names, each now with another variant's model): the new model answers.
    for i in gone:
        assert load(endpoint, model_name(i), url_of(model_name(i + 1))).status_code == 200
    check_all_answer(endpoint, variants, range(1, MODELS, 2))
    for i in gone:
        response = invoke(endpoint, model_name(i))
        assert response.text.splitlines() == expected(variants, i + 1), model_name(i)
    assert endpoint.running()

    per_model = f", {(memory_after - memory_before) / MODELS / 2**20:.2f} MiB per model" if memory_before else ""
    FIGURES.append(
        f"multi-model ({backend}): {MODELS} models loaded, load {1000 * sorted(load_seconds)[MODELS // 2]:.1f} ms"
        f" (median), invoke of a loaded model {1000 * invoke_seconds:.1f} ms (mean){per_model}"
    )


def test_conflicts_unknown_models_and_bad_requests(mme, variants, models_root, tmp_path):
    endpoint, url_of = mme()
    name = model_name(3)
    assert load(endpoint, name, url_of(name)).status_code == 200
    again = load(endpoint, name, url_of(name))
    assert again.status_code == 409 and "already loaded" in again.json()["error"]

    for body in (b"not json", b"[]", b'{"model_name": "x"}', b'{"url": "/opt/ml/models/x/model"}'):
        response = requests.post(endpoint.url + "/models", data=body, timeout=5)
        assert response.status_code == 400 and response.json()["error"], body
    assert load(endpoint, "nowhere", "/opt/ml/models/nowhere/model").status_code == 400
    assert load(endpoint, "x" * 1025, url_of(name)).status_code == 400
    no_model = load(endpoint, "empty", str(Path(url_of(name)).parent))  # a folder, but no model.json in it
    assert no_model.status_code == 400 and "model.json" in no_model.json()["error"]

    for response in (
        invoke(endpoint, "unknown"),
        requests.get(endpoint.url + "/models/unknown", timeout=5),
        requests.delete(endpoint.url + "/models/unknown", timeout=5),
    ):
        assert response.status_code == 404 and "not loaded" in response.json()["error"]
    bad_page = requests.get(endpoint.url + "/models", params={"next_page_token": "x"}, timeout=5)
    assert bad_page.status_code == 400

    # The same content types, Accept negotiation and errors as /invocations.
    assert invoke(endpoint, name, {"Content-Type": "image/png"}).status_code == 415
    assert invoke(endpoint, name, {"Content-Type": "text/csv", "Accept": "image/png"}).status_code == 406
    assert invoke(endpoint, name, {"Content-Type": "text/csv"}, body=b"").status_code == 400
    answer = invoke(endpoint, name, {"Content-Type": "text/csv", "Accept": "application/json"})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["predictions"] == load_model(variants[3][0]).predict(read_rows(PAYLOAD)).tolist()


def test_a_load_that_would_eat_the_reserve_is_507(mme):
    """The memory left is measured (cgroup, else MemAvailable) against a reserve that no machine here has."""
    endpoint, url_of = mme(MULTI_MODEL_MEMORY_RESERVE_MB="100000000")
    response = load(endpoint, model_name(1), url_of(model_name(1)))
    assert response.status_code == 507, response.text
    assert "reserve" in response.json()["error"]
    assert requests.get(endpoint.url + "/models", timeout=5).json() == {"models": []}  # nothing half-loaded


def test_single_model_mode_has_no_models_api(server):
    response = requests.post(server.url + "/models", json={"model_name": "a", "url": "/tmp"}, timeout=5)
    assert response.status_code == 404 and "SAGEMAKER_MULTI_MODEL" in response.json()["error"]
    assert requests.get(server.url + "/models/a", timeout=5).status_code == 404


# ---------------------------------------------------------------- the image only

MEMORY = "700m"
HOG = """
import pathlib, sys, time
block = b"x" * int(sys.argv[1])  # written, so every page is really used
pathlib.Path("/tmp/hog-ready").touch()
while not pathlib.Path("/tmp/hog-stop").exists():
    time.sleep(0.1)
"""
MEMORY_LEFT = "from contract.model_store import memory_left; print(memory_left())"


@pytest.mark.container
def test_out_of_memory_is_507_and_the_container_keeps_serving(image, models_root, variants):
    """A container with little memory: something else in it takes nearly all that is left, the next
    load is refused with 507 (no worker is OOM-killed, the models already loaded still answer), and
    once that memory is free again the same load succeeds."""
    mount = ["-v", f"{models_root}:{CONTAINER_MODELS}:ro", "--memory", MEMORY, "--memory-swap", MEMORY]
    endpoint = ContainerEndpoint(image, None, options=mount, prefix="byoc-mme", **MME_ENV)
    url_of = lambda name: f"{CONTAINER_MODELS}/{name}/model"  # noqa: E731
    try:
        for i in range(3):
            assert load(endpoint, model_name(i), url_of(model_name(i))).status_code == 200
        check_all_answer(endpoint, variants, range(3))

        left = int(in_container(endpoint, "python3", "-c", MEMORY_LEFT).stdout)
        hog_bytes = left - 24 * 2**20  # leaves 24 MiB: under the default 64 MiB reserve
        in_container(endpoint, "python3", "-c", HOG, str(hog_bytes), detach=True)
        ready = lambda: in_container(endpoint, "test", "-e", "/tmp/hog-ready", check=False).returncode == 0  # noqa: E731
        poll(ready, 60, "the memory hog never got its memory")

        refused = load(endpoint, model_name(3), url_of(model_name(3)))
        assert refused.status_code == 507, refused.text
        assert "MB of memory left" in refused.json()["error"]
        state = endpoint.inspect()["State"]
        assert state["Running"] and not state["OOMKilled"]
        assert requests.get(endpoint.url + "/ping", timeout=2).status_code == 200
        check_all_answer(endpoint, variants, range(3))

        in_container(endpoint, "touch", "/tmp/hog-stop")
        poll(lambda: load(endpoint, model_name(3), url_of(model_name(3))).status_code == 200, 30, "memory stayed gone")
        check_all_answer(endpoint, variants, range(4))
    finally:
        endpoint.remove()
    FIGURES.append(f"multi-model (container, --memory {MEMORY}): 507 with {(left - hog_bytes) // 2**20} MiB left")


def in_container(endpoint: ContainerEndpoint, *command: str, detach: bool = False, check: bool = True):
    return docker("exec", *(["-d"] if detach else []), endpoint.name, *command, check=check)


def container_memory(endpoint) -> int:
    """The container's memory use (its cgroup's), or 0 on a host, where it is not one cgroup."""
    if not isinstance(endpoint, ContainerEndpoint):
        return 0
    return int(endpoint.read_first(("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes")))


def test_the_registry_is_the_one_source_every_worker_reads(mme, variants):
    """A model loaded through one worker answers on every worker: with two workers, many requests
    at once reach both, and none is a 404 (what is loaded is recorded on disk, not in one worker)."""
    endpoint, url_of = mme()
    assert len(workers(endpoint)) == 2
    assert load(endpoint, model_name(5), url_of(model_name(5))).status_code == 200
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: invoke(endpoint, model_name(5)).status_code, range(64)))
    assert statuses == [200] * 64
    assert json.loads(requests.get(endpoint.url + "/models", timeout=5).text)["models"][0]["modelName"] == model_name(5)
