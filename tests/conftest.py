"""Rendering the template for the tests: one render per set of answers, shared per session."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT  # the repository is the template: cookiecutter.json, hooks/, templates/, {{cookiecutter.algorithm_name}}/
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


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("measured")
        for line in REPORT:
            terminalreporter.write_line(line)
