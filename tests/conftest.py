"""Rendering the template for the tests: one render per set of answers, shared per session."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
# The repository is the template: cookiecutter.json, hooks/, templates/, {{cookiecutter.algorithm_name}}/
TEMPLATE = ROOT
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
FRAMEWORKS = DEFAULTS["framework"]
VENV_BIN = Path(sys.executable).parent


def render(output_dir: Path, **answers) -> Path:
    """Render the template as `cookiecutter --no-input <repo> key=value...` would."""
    project = cookiecutter(str(ROOT), no_input=True, extra_context=answers, output_dir=str(output_dir))
    return Path(project)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """rendered(**answers) -> project folder; each distinct set of answers is rendered once."""
    cache: dict[tuple, Path] = {}

    def get(**answers) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in cache:
            cache[key] = render(tmp_path_factory.mktemp("render"), **answers)
        return cache[key]

    return get


def tool_env() -> dict[str, str]:
    """PATH with this venv first (ruff, shellcheck, hadolint, the programs' python) and /usr/sbin (nginx)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), "/usr/sbin", "/sbin", env.get("PATH", "")])
    return env


def run(cmd, cwd=None, timeout=1800, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout, **kwargs
    )


REPORT: list[str] = []  # figures the tests measured, printed at the end of the run
# With pytest-xdist (scripts/test.sh), each worker writes its figures here and the controller
# prints them all: the first process to load this file (the controller) picks the folder.
REPORT_DIR = Path(os.environ.setdefault("BYOC_REPORT_DIR", tempfile.mkdtemp(prefix="byoc-report-")))
# Tests that hold the Docker engine's shared names run one after another on one worker: the
# SDK's `sagemaker-local` network (a local-mode run removes it once unused), 127.0.0.1:8080
# (serve_local.sh); everything else is spread over the other workers. A container test that
# uses none of them names a group of its own (test_arm64: random ports, its own names) and
# runs beside the others.
DOCKER_GROUP = pytest.mark.xdist_group("docker")


@pytest.hookimpl(trylast=True)  # after every other plugin's marks
def pytest_collection_modifyitems(session, items):
    """Put each container test that names no group of its own in DOCKER_GROUP, then give every
    grouped test the `@group` suffix that --dist loadgroup schedules by.

    pytest-xdist 3.8 appends that suffix to `item._nodeid`, which pytest 9 no longer reads (a
    node's id is `item._id` now): without this no group holds together, two container tests use
    port 8080 and the sagemaker-local network at once, and each arm64 test builds its own image
    under emulation. This runs before the worker sends its test ids to the controller."""
    for item in items:
        if item.get_closest_marker("container") and not item.get_closest_marker("xdist_group"):
            item.add_marker(DOCKER_GROUP)
    if not getattr(session.config.option, "loadgroup", False):  # set in xdist workers only
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        groups = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group") if mark.args})
        if groups and not item.nodeid.endswith(f"@{'_'.join(groups)}"):
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")


def pytest_sessionfinish(session):
    if REPORT:
        (REPORT_DIR / f"{os.getpid()}.txt").write_text("\n".join(REPORT) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter):
    lines = sorted(line for path in REPORT_DIR.glob("*.txt") for line in path.read_text(encoding="utf-8").splitlines())
    if lines:
        terminalreporter.section("measured")
        for line in lines:
            terminalreporter.write_line(line)
