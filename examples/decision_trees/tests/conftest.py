"""Shared fixtures: the real `train` and `serve` programs run as host processes.

OPT_ML points them at a temporary copy of local_test/test_dir instead of /opt/ml, so
no Docker is needed; `serve` still runs real nginx in front of real gunicorn.

The tests follow model.py: its FEATURE_TYPE decides whether rows are numbers or text (COLUMNS:
a table, LABEL: where the label goes), the sample payload gives the width of a row, and
synthetic data is written in the model's terms.
"""

import contextlib
import csv
import importlib.util
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests

PROJECT = Path(__file__).resolve().parents[1]
PROGRAM = PROJECT / "decision_trees"  # yours: model.py and the files beside it
CONTRACT = PROJECT / "contract"  # the template's: train, serve and the contract's modules
TEST_DIR = PROJECT / "local_test" / "test_dir"
PAYLOAD = PROJECT / "local_test" / "payload.csv"
sys.path[:0] = [str(PROGRAM), str(PROJECT)]  # the tests also import model.py and the contract directly
from contract import interface  # noqa: E402 (needs the path above)

CODE = interface.load_model_code()  # model.py, checked: a broken one stops here, with its sentence
FEATURE_TYPE = interface.constant(CODE, "FEATURE_TYPE")
TEXT = FEATURE_TYPE == "text"
COLUMNS = interface.constant(CODE, "COLUMNS")
LABEL = interface.constant(CODE, "LABEL")
TABLE = bool(COLUMNS)  # fit and predict get a pandas DataFrame (contract/tables.py)
INPUT_TYPES = interface.constant(CODE, "INPUT_TYPES")
# One request row of the sample payload: bodies built from it fit whatever model the project trains.
SAMPLE_ROW = PAYLOAD.read_bytes().splitlines()[0] + b"\n"
N_FEATURES = len(next(csv.reader([SAMPLE_ROW.decode()])))


def with_label(label: str, cells: list[str]) -> list[str]:
    """A CSV row's cells with the label where model.py's LABEL reads it (a name: first, under the header)."""
    at = 0 if isinstance(LABEL, str) else LABEL if LABEL >= 0 else len(cells) + 1 + LABEL
    return [*cells[:at], label, *cells[at:]]


def _sample_data():
    from contract import dataset, tables

    table = dataset.read_channel(
        "training", TEST_DIR / "input" / "data" / "training", None, FEATURE_TYPE, LABEL, COLUMNS
    )
    names = table.feature_names
    header = ",".join(with_label(LABEL if isinstance(LABEL, str) else "label", list(names))) if names else None
    columns = tables.schema(names, tables.kinds(names, COLUMNS), table.features, sorted) if TABLE else None
    return header, columns


# The sample training data's header, or None: synthetic data of N_FEATURES columns written under it
# keeps the sample job's hyperparameters meaningful (they may name its columns). A table's columns
# (name, kind, categories) as training on the sample data records them in model.json.
SAMPLE_HEADER, SAMPLE_COLUMNS = _sample_data()
numbers_only = pytest.mark.skipif(
    TEXT or TABLE,
    reason='about a matrix of numbers; model.py sets FEATURE_TYPE = "text"' if TEXT else "about a matrix of numbers; "
    "model.py's COLUMNS makes the features a table (tests/test_tables.py covers it)",
)


def _response_repr(response: requests.Response) -> str:
    """A failing `assert response.status_code == 200` shows what the server said, not just 400."""
    try:
        body = response.content[:500].decode("utf-8", "replace")
    except (RuntimeError, requests.RequestException):  # a streamed body already consumed
        body = "(body not available)"
    return f"<Response [{response.status_code}] {response.headers.get('Content-Type', '')}: {body!r}>"


requests.Response.__repr__ = _response_repr


def program_env(opt_ml: Path, **extra) -> dict[str, str]:
    env = dict(os.environ)
    # `#!/usr/bin/env python3` must find this interpreter; nginx lives in /usr/sbin.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/sbin", "/sbin", env.get("PATH", "")])
    env["OPT_ML"] = str(opt_ml)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def require_tool(tool: str, install: str = "") -> str:
    """A tool's path (this venv first, then /usr/sbin and PATH); a missing one fails the run
    under CI (which installs it) and skips elsewhere."""
    found = shutil.which(tool, path=program_env(Path("/"))["PATH"])
    if found is None:
        message = f"{tool} is not installed ({install or 'Debian: apt-get install ' + tool})"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return found


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """`docker ARGS`, its output captured; a failure (when check) is an assertion with docker's stderr."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} ... failed ({result.returncode}):\n{result.stderr}")
    return result


def wait_for_answer(
    url: str, timeout: float, alive: Callable[[], bool], describe: Callable[[], str], accept=(200,)
) -> requests.Response:
    """The first answer from url whose status is in accept (a container or process still
    starting refuses connections, or answers 502 while its workers load); an AssertionError
    with describe()'s text (its log) if the server ends first or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = requests.get(url, timeout=2)
            if response.status_code in accept:
                return response
        except (requests.ConnectionError, requests.Timeout):
            pass
        if not alive():
            raise AssertionError(f"the server ended before answering {url}:\n{describe()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer from {url} within {timeout} s:\n{describe()}")
        time.sleep(0.1)


ANY_BUT_502 = tuple(status for status in range(100, 600) if status != 502)  # answered by the app itself


@pytest.fixture
def opt_ml(tmp_path: Path) -> Path:
    """A fresh /opt/ml stand-in with the sample data and config."""
    root = tmp_path / "opt_ml"
    shutil.copytree(TEST_DIR / "input", root / "input")
    return root


def read_rows(path: Path = PAYLOAD) -> np.ndarray:
    """Request rows from a CSV file, as the server reads a text/csv body: numbers (a blank cell is
    NaN), or text cells."""
    from contract import payloads, tables

    if SAMPLE_COLUMNS:
        return tables.decode(path.read_bytes(), payloads.CSV, None, SAMPLE_COLUMNS)
    return payloads.decode(path.read_bytes(), payloads.CSV, feature_type=FEATURE_TYPE)


def as_cells(rows: list[list[str]]) -> np.ndarray:
    cells = np.empty((len(rows), len(rows[0])), dtype=object)
    cells[:] = rows
    return cells


def csv_body(rows: np.ndarray, newline: str = "\n", trailing: bool = True) -> bytes:
    """Rows as a text/csv body: numbers written exactly, text cells quoted where needed."""
    if TEXT or TABLE:
        out = io.StringIO()
        csv.writer(out, lineterminator=newline).writerows(table_cells(rows) if TABLE else rows.tolist())
        text = out.getvalue()
        return (text if trailing else text[: -len(newline)]).encode()
    text = newline.join(",".join(repr(float(v)) for v in row) for row in rows)
    return (text + (newline if trailing else "")).encode()


def table_cells(rows) -> list[list[str]]:
    """A table's rows (a DataFrame or an object array) as CSV cells: a missing value is an empty cell."""
    values = rows.astype(object).to_numpy() if hasattr(rows, "to_numpy") else np.asarray(rows, dtype=object)

    def missing(v) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v))

    return [["" if missing(v) else repr(float(v)) if isinstance(v, float | int) else str(v) for v in row]
            for row in values.tolist()]  # fmt: skip


def json_cells(rows) -> list[list]:
    """Rows as JSON values: numbers (a table's missing value null), or text cells."""
    if not TABLE:
        return rows.tolist()
    values = rows.astype(object).to_numpy().tolist()
    return [[None if isinstance(v, float) and np.isnan(v) else v for v in row] for row in values]


def model_input(X: np.ndarray, model=None) -> np.ndarray:
    """Synthetic numeric features as this model reads them. For text, each number becomes words
    (a "thermometer": one word per threshold it exceeds), N_FEATURES cells a row, so a bag of
    words can learn what the numbers say."""
    if TABLE:  # cells to write; for a model's predict, its table (categories as it was trained on them)
        from contract import tables

        return _table_input(X) if model is None else tables.frame(model.columns, _table_input(X))
    if not TEXT:
        return X
    thresholds = np.arange(-6.0, 6.5, 0.5)
    levels = np.searchsorted(thresholds, np.nan_to_num(X, nan=-np.inf))  # thresholds below each value
    words = [[" ".join([f"f{j}none", *(f"f{j}t{k}" for k in range(level))]) for level in range(len(thresholds) + 1)]
             for j in range(X.shape[1])]  # fmt: skip
    groups = [range(c, X.shape[1], N_FEATURES) for c in range(N_FEATURES)]  # column j goes to cell j % N_FEATURES
    return as_cells([[" ".join(words[j][row[j]] for j in group) for group in groups] for row in levels.tolist()])


def _table_input(X: np.ndarray) -> np.ndarray:
    """Synthetic numbers in the sample table's columns: column c holds the sum of X's columns c,
    c + N_FEATURES, ...; a category column that sum's level (a word), so a model can learn it."""
    cells = np.empty((len(X), N_FEATURES), dtype=object)
    for c, column in enumerate(SAMPLE_COLUMNS):
        group = X[:, c::N_FEATURES]
        total = group.sum(axis=1) if group.shape[1] else np.zeros(len(X))
        if column["kind"] == "number":
            cells[:, c] = total.tolist()
        else:
            levels = np.searchsorted(np.arange(-6.0, 6.5, 1.0), total)
            words = [f"level{level}" for level in levels.tolist()]
            cells[:, c] = [None if np.isnan(v) else w for v, w in zip(total.tolist(), words, strict=True)]
    return cells


def written_width(d: int) -> str:
    """How train reports d synthetic feature columns once written for this model."""
    if TABLE:
        return f"{N_FEATURES} features (a table; declared: {', '.join(f'{n} {k}' for n, k in COLUMNS.items())})"
    return f"{N_FEATURES} features (text)" if TEXT else f"{d} features"


def write_channel(opt_ml: Path, channel: str, labels, features: np.ndarray, files: int = 1, header=None) -> None:
    """CSV files as SageMaker would copy them: label first, and a header line if given (text
    features always get one: see dataset.py)."""
    folder = opt_ml / "input" / "data" / channel
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if TABLE:
        header = header or SAMPLE_HEADER
        lines = csv_body(model_input(features)).decode().splitlines()
    elif TEXT:
        header = header or ",".join(with_label("label", [f"text_{j + 1}" for j in range(N_FEATURES)]))
        lines = csv_body(model_input(features)).decode().splitlines()
    else:
        text = io.StringIO()
        np.savetxt(text, features, delimiter=",", fmt="%.17g")
        lines = text.getvalue().splitlines()
    if LABEL == 0 or isinstance(LABEL, str):
        rows = [f"{label},{line}" for label, line in zip(labels, lines, strict=True)]
    else:  # the label where LABEL says
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(
            with_label(str(label), next(csv.reader([line]))) for label, line in zip(labels, lines, strict=True)
        )
        rows = out.getvalue().splitlines()
    for part, chunk in enumerate(np.array_split(np.arange(len(rows)), files)):
        lines = ([header] if header else []) + [rows[i] for i in chunk]
        (folder / f"part-{part}.csv").write_text("\n".join(lines) + "\n")


def classification_data(n: int, d: int, k: int, seed: int = 0, text_labels: bool = True):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(k, d))
    y = rng.integers(0, k, size=n)
    X = centers[y] + rng.normal(0, 1, size=(n, d))
    names = np.array([f"class {chr(97 + i)}" for i in range(k)]) if text_labels else np.arange(k) * 10
    return names[y], X


def regression_data(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    return X @ w + 3.0 + rng.normal(0, 0.05, size=n), X


def program_copy(tmp_path: Path) -> Path:
    """A copy of the program folder beside a copy of contract/, as in the project and the image, for a
    test to change model.py or hyperparameters.json in; entry(copy, "train") runs it."""
    for folder in (CONTRACT, PROGRAM):
        shutil.copytree(folder, tmp_path / "project" / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "project" / PROGRAM.name


def entry(program: Path, name: str) -> Path:
    """The `train` or `serve` that runs this program folder's model.py (contract/ beside it)."""
    return program.parent / CONTRACT.name / name


def run_train(opt_ml: Path, timeout: float = 600, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CONTRACT / "train")], env=program_env(opt_ml, **env), capture_output=True, text=True, timeout=timeout
    )


def listening(tcp_table: str) -> set[str]:
    """The sockets listening in a /proc/net/tcp or tcp6 table, as "address:port"."""
    found = set()
    for line in tcp_table.splitlines()[1:]:
        fields = line.split()
        if fields[3] != "0A":  # LISTEN
            continue
        address, port = fields[1].rsplit(":", 1)
        if len(address) == 8:  # IPv4, little-endian
            address = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
        found.add(f"{address}:{int(port, 16)}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        """Signal serve and wait for its exit code; SIGKILL takes its servers and workers too (they
        run in sessions of their own, and a killed serve cannot stop them)."""
        tree = descendants(process_table(), self.process.pid) if sig == signal.SIGKILL else []
        if self.process.poll() is None:
            self.process.send_signal(sig)
        for process in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process["pid"], signal.SIGKILL)
        return self.process.wait(timeout)


def process_table() -> list[dict]:
    """Every live process (pid, ppid, state, command) from /proc; stdlib only, so that it also
    runs inside the image, which has no `ps`."""
    table = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat_file:
                stat = stat_file.read()
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state not in ("Z", "X"):
            table.append({"pid": int(pid), "ppid": int(ppid), "state": state, "command": command})
    return table


def descendants(table: list[dict], root: int) -> list[dict]:
    children = [p for p in table if p["ppid"] == root]
    return [q for child in children for q in (child, *descendants(table, child["pid"]))]


def start_server(opt_ml: Path, log_dir: Path, wait_healthy: bool = True, program: Path = PROGRAM, **env) -> Server:
    require_tool("nginx")
    port = free_port()
    env = {"SAGEMAKER_BIND_TO_PORT": port, "SAGEMAKER_MODEL_SERVER_WORKERS": 2, **env}
    log_path = log_dir / f"serve-{port}.log"
    # Append mode: nginx reopens /dev/stdout itself, and without O_APPEND every process would
    # write at its own offset, over the others' lines.
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(entry(program, "serve"))], env=program_env(opt_ml, **env), stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{env['SAGEMAKER_BIND_TO_PORT']}", process, log_path)
    try:
        wait_for_answer(server.url + "/ping", 60, lambda: process.poll() is None, server.log,
                        (200,) if wait_healthy else ANY_BUT_502)  # fmt: skip
    except AssertionError:
        server.stop(signal.SIGKILL)
        raise
    return server


def load_model(model_dir: Path):
    """The trained model as `serve` loads it: model.py checked, then model_artifact.load."""
    from contract import model_artifact

    return model_artifact.load(CODE, model_dir)


def is_complete_model(names: list[str]) -> bool:
    """A committed model folder: model.json plus model.py's files, no staging left."""
    return "model.json" in names and len(names) > 1 and not any(n.startswith(".staging-") for n in names)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """/opt/ml after training on the sample data: the model every serving test uses."""
    root = tmp_path_factory.mktemp("trained") / "opt_ml"
    shutil.copytree(TEST_DIR / "input", root / "input")
    result = run_train(root)
    assert result.returncode == 0, result.stdout + result.stderr
    (root / "train.log").write_text(result.stdout + result.stderr)
    return root


@pytest.fixture(scope="session")
def trained_log(trained: Path) -> str:
    """What `train` printed for the sample job."""
    return (trained / "train.log").read_text()


@pytest.fixture(scope="session")
def server(trained: Path, tmp_path_factory):
    running = start_server(trained, tmp_path_factory.mktemp("logs"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def sample_rows() -> np.ndarray:
    return read_rows(PAYLOAD)


@pytest.fixture(scope="session")
def expected(trained: Path, sample_rows: np.ndarray):
    """What the model predicts for the sample payload, computed in this process."""
    return load_model(trained / "model").predict(sample_rows)


@pytest.fixture(scope="session")
def takes_missing_values(trained: Path, sample_rows: np.ndarray) -> bool:
    """Whether the sample job's model predicts a row with a missing value (NaN; "" for text) or
    refuses it: missing values are the model's business, not the contract's."""
    row = sample_rows[:1].copy()
    if TABLE:
        row.iloc[0, 0] = "" if SAMPLE_COLUMNS[0]["kind"] == "text" else np.nan
    else:
        row[0, 0] = "" if TEXT else np.nan
    try:
        load_model(trained / "model").predict(row)
    except ValueError:
        return False
    return True


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def image() -> str:
    """The project's image, built from this checkout (layer cache makes rebuilds quick).

    IMAGE names it (default: the algorithm name). Without a Docker engine the container
    tests fail under CI and are skipped elsewhere.
    """
    if not docker_answers():
        message = "no Docker engine answers `docker info`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    name = os.environ.get("IMAGE", "decision_trees")
    build = subprocess.run(["docker", "build", "-q", "-t", name, str(PROJECT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    return name


FIGURES: list[str] = []  # what the fuzz and load tests measured, printed at the end of the run


def serving_container(image: str, model_dir: Path, *docker_args: str, prefix: str = "byoc-serve"):
    """`docker run IMAGE serve` with model_dir at /opt/ml/model, as a `with` block yielding (url, name).
    Here for tests/test_model.py and other tests of yours; it is endpoints.serving_container."""
    from endpoints import serving_container as container  # endpoints imports this module: no cycle at load

    return container(image, model_dir, *docker_args, prefix=prefix)


def pytest_terminal_summary(terminalreporter):
    for line in FIGURES:
        terminalreporter.write_line(line)
    if DEEPER:
        files = sorted({item.path.name for item in DEEPER})
        terminalreporter.write_line(f"{len(DEEPER)} deeper tests left for make test-all ({', '.join(files)})")
    if NEEDS_TOOLS:
        terminalreporter.write_line(f"not collected here, they need the deploy tools of .venv-tools (make test-all, "
                                    f"make test-container): {', '.join(sorted(set(NEEDS_TOOLS)))}")  # fmt: skip


def pytest_addoption(parser):
    parser.addoption("--deep", action="store_true",
                     help="also run the tests marked deep (make test-all, make test-container)")  # fmt: skip


def named_by_the_user(config) -> bool:
    """Tests named on the command line (a path, a node id, or -k) run whatever their tier."""
    return config.args_source == pytest.Config.ArgsSource.ARGS or bool(config.option.keyword)


def pytest_collection_modifyitems(config, items):
    """Deselect, rather than skip (a skip here means a test that should have run did not):
    - tests marked applies(False), about what this model.py does not do (a feature it turned off);
    - tests marked deep, unless --deep is given or the user named them: the contract's own code
      (codecs, fuzzing, the front door, the lifecycle, tuning, failure modes), which make test-all,
      make test-container and CI run, and which an edit of model.py does not reach."""
    deep = not config.getoption("--deep") and not named_by_the_user(config)
    dropped = [item for item in items if (mark := item.get_closest_marker("applies")) and not mark.args[0]]
    DEEPER.extend(item for item in items if deep and item not in dropped and item.get_closest_marker("deep"))
    if dropped or DEEPER:
        config.hook.pytest_deselected(items=dropped + DEEPER)
        items[:] = [item for item in items if item not in dropped and item not in DEEPER]


DEEPER: list = []  # the deep tests this run left out


def pytest_report_header(config):
    if not config.getoption("--deep") and not named_by_the_user(config):
        return "tier: make test (your model through the contract); make test-all also runs the tests marked deep"


# make venv makes two venvs: .venv holds exactly requirements.lock (the image's packages) and the test
# tools, so that make test fails on an import the image lacks; .venv-tools adds the deploy, lint and
# update tools, and runs make test-all and make test-container. A module that imports the deploy side
# (boto3, moto, the lifecycle: all in the deeper tiers) is not collected where they are missing.
DEPLOY_MODULES = "boto3|botocore|moto|sagemaker|yaml|aws_fakes|lifecycle|test_lifecycle|test_hosting_modes"
DEPLOY_IMPORT = re.compile(rf"^\s*(?:import|from) (?:{DEPLOY_MODULES})\b", re.M)
DEPLOY_TOOLS = importlib.util.find_spec("boto3") is not None and importlib.util.find_spec("moto") is not None
NEEDS_TOOLS: list[str] = []  # the modules this run did not collect for want of them


def needs_tools(path: Path) -> bool:
    """A test module that imports the deploy side, where .venv-tools is not this venv."""
    is_test = path.suffix == ".py" and path.name.startswith("test_") and path.is_file()
    return not DEPLOY_TOOLS and is_test and DEPLOY_IMPORT.search(path.read_text()) is not None


def pytest_ignore_collect(collection_path, config):
    if needs_tools(collection_path):
        NEEDS_TOOLS.append(collection_path.name)
        return True
    return None


def requirements_changed() -> list[str]:
    """The requirements files that changed since `make venv` installed this venv (it keeps them as
    installed in .requirements, each after a `== name` line); [] outside a venv of make venv."""
    stamp = Path(sys.prefix) / ".requirements"
    if Path(sys.prefix).parent != PROJECT or not stamp.exists():
        return []
    installed = dict(re.findall(r"^== (\S+)\n(.*?)(?=^== |\Z)", stamp.read_text(), flags=re.S | re.M))
    now = {name: (PROJECT / name).read_text() if (PROJECT / name).is_file() else None for name in installed}
    return [name for name, text in installed.items() if now[name] != text]


def pytest_sessionstart(session):
    if changed := requirements_changed():
        venv = Path(sys.prefix).name
        pytest.exit(f"requirements changed ({', '.join(changed)}) since make venv made {venv}: run make venv", 2)
    here = session.config.invocation_params.dir
    if named := [arg for arg in session.config.args if needs_tools(here / arg.split("::")[0])]:
        pytest.exit(f"{' '.join(named)}: needs the deploy tools of .venv-tools, which make test-all and make "
                    f"test-container run with: make test-all PYTEST_ARGS={' '.join(named)}", 4)  # fmt: skip
