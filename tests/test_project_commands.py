"""The rendered project's own commands, run as its user runs them: make venv, make lint, make test
with options, and the deploy side on the oldest Python it supports (3.10, SageMaker Studio's)."""

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import render, run

REQUIRED = (3, 12)  # the image's Python is 3.13; the project's tests and tools need 3.12+


def python(version: tuple[int, int], exact: bool) -> str | None:
    """A real interpreter of that version (exact) or at least it, from PATH, /usr/bin or pyenv."""
    wanted = f"{version[0]}.{version[1]}"
    # Interpreters themselves (a pyenv shim is a bash script, and the tests narrow PATH).
    pyenv = glob.glob(os.path.expanduser(f"~/.pyenv/versions/{wanted}*/bin/python3"))
    candidates = [f"/usr/bin/python{wanted}", *pyenv, shutil.which(f"python{wanted}")]
    if not exact:
        candidates.append(sys.executable)
    for candidate in filter(None, candidates):
        check = f"import sys; sys.exit(not sys.version_info[:2] {'==' if exact else '>='} {version})"
        if os.path.exists(candidate) and subprocess.run([candidate, "-c", check]).returncode == 0:
            return candidate
    message = f"no Python {wanted} found (pyenv install {wanted})"
    pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def make(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return run(["make", *args], cwd=project, env=dict(os.environ, **env))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("commands"))


@pytest.fixture(scope="module")
def venv_project(project) -> Path:
    """The render after `make venv` with a Python 3.12+."""
    result = make(project, "venv", f"PYTHON={python(REQUIRED, exact=False)}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    return project


def test_make_venv_refuses_an_old_python_in_one_sentence_and_leaves_nothing(tmp_path):
    project = render(tmp_path)
    old = python((3, 11), exact=True)
    given = make(project, "venv", f"PYTHON={old}")
    assert given.returncode != 0
    assert "needs Python 3.12 or newer" in given.stderr and "3.11" in given.stderr, given.stderr
    # No PYTHON, and the only python3 on PATH is too old (a machine like Debian 12 or Studio):
    only_old = tmp_path / "bin"
    only_old.mkdir()
    (only_old / "python3").symlink_to(old)
    for tool in ("make", "sh", "rm", "echo"):
        if found := shutil.which(tool):
            (only_old / tool).symlink_to(found)
    found = run(["make", "venv"], cwd=project, env=dict(os.environ, PATH=str(only_old)))
    assert found.returncode != 0
    assert "needs Python 3.12 or newer, and python3 is Python 3.11" in found.stderr, found.stderr
    assert found.stderr.count("make venv:") == 1  # one sentence, then make's own line
    assert not (project / ".venv").exists()


def test_a_failed_make_venv_leaves_no_half_made_venv(tmp_path):
    project = render(tmp_path)
    with open(project / project.name / "requirements.txt", "a") as requirements:
        requirements.write("numpy==0.0.0\n")  # no such numpy: make lock fails
    result = make(project, "venv", f"PYTHON={python(REQUIRED, exact=False)}")
    assert result.returncode != 0
    assert "requirements.lock lacks numpy==0.0.0" in result.stdout and "make venv: failed" in result.stderr
    assert not (project / ".venv").exists() and not (project / ".venv-tools").exists()


def test_make_venv_again_changes_nothing_and_the_tests_venv_has_only_the_images_packages(venv_project):
    again = make(venv_project, "venv")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "make venv: .venv is up to date" in again.stdout and "make venv: .venv-tools is up to date" in again.stdout
    runtime, tools = (str(venv_project / venv / "bin" / "python") for venv in (".venv", ".venv-tools"))
    for module in ("boto3", "pandas", "moto", "ruff"):  # sagemaker-core brings pandas: .venv-tools only
        found = run([runtime, "-c", f"import {module}"])
        assert found.returncode != 0, f"{module} is in .venv, which holds only the image's packages and the test tools"
    assert run([tools, "-c", "import boto3, pandas, moto, sklearn"]).returncode == 0


def test_make_test_runs_on_the_images_packages_and_an_undeclared_import_fails_it(venv_project):
    """The loop passes in .venv (the image's packages and the test tools alone); a model.py that
    imports pandas, which only the deploy tools bring, then fails it, as it would fail in the image."""
    loop = make(venv_project, "test")
    assert loop.returncode == 0 and " passed" in loop.stdout, loop.stdout[-4000:] + loop.stderr[-2000:]
    assert "need the deploy tools of .venv-tools" in loop.stdout, loop.stdout[-2000:]
    model = venv_project / venv_project.name / "model.py"
    original = model.read_text()
    try:
        model.write_text("import pandas  # noqa: F401\n" + original)
        failed = make(venv_project, "test")
        assert failed.returncode != 0 and "No module named 'pandas'" in failed.stdout + failed.stderr, failed.stdout
    finally:
        model.write_text(original)


def test_the_readmes_direct_run_of_train_works_as_written(venv_project):
    readme = (venv_project / "README.md").read_text()
    command = re.search(r"`(OPT_ML=\$PWD/local_test/test_dir [^`]*/train)`", readme)
    assert command, "the README shows how to run train directly"
    result = run(["sh", "-c", command[1]], cwd=venv_project, env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list((venv_project / "local_test" / "test_dir" / "model").iterdir())


def test_make_lint_runs_ruff_shellcheck_and_hadolint_from_the_venv(venv_project):
    clean = make(venv_project, "lint", PATH="/usr/bin:/bin")  # the tools come from .venv-tools, not this machine
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for path, line, rule in (("local_test/predict.sh", "echo $1", "SC2086"), ("Dockerfile", "RUN cd /tmp", "DL3003")):
        target = venv_project / path
        original = target.read_text()
        try:
            target.write_text(original + line + "\n")  # an unquoted variable; `cd` instead of WORKDIR
            failed = make(venv_project, "lint", PATH="/usr/bin:/bin")
            assert failed.returncode != 0 and rule in failed.stdout + failed.stderr, failed.stdout + failed.stderr
        finally:
            target.write_text(original)


def test_make_test_passes_pytest_options_through(venv_project):
    result = make(venv_project, "test", "PYTEST_ARGS=-k test_ping_is_200 --collect-only -q")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected and all("test_ping_is_200" in line for line in collected), result.stdout
    # A file named runs alone, even one of the deeper tier (make test-all) that make test leaves out.
    named = make(venv_project, "test", "PYTEST_ARGS=tests/test_payloads.py --collect-only -q")
    collected = [line for line in named.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("tests/test_payloads.py::") for line in collected), named.stdout
    loop = make(venv_project, "test", "PYTEST_ARGS=--collect-only -q")
    loop_collected = [line for line in loop.stdout.splitlines() if "::" in line]
    assert not any(line.startswith("tests/test_payloads.py::") for line in loop_collected), loop.stdout
    assert any(line.startswith("tests/test_serve.py::") for line in loop_collected), loop.stdout
    # One that needs the deploy tools says where it runs; make test-all runs it.
    deploy = make(venv_project, "test", "PYTEST_ARGS=tests/test_front.py --collect-only -q")
    assert deploy.returncode != 0 and "make test-all PYTEST_ARGS=tests/test_front.py" in deploy.stdout, deploy.stdout
    tools = make(venv_project, "test-all", "PYTEST_ARGS=tests/test_front.py --collect-only -q")
    assert tools.returncode == 0 and "tests/test_front.py::" in tools.stdout, tools.stdout[-3000:] + tools.stderr


def test_the_deploy_side_runs_on_python_3_10(project, tmp_path):
    """requirements-deploy.txt installs on 3.10, and the lifecycle's SageMaker path (against a
    moto server) and the `aws` command of build_and_push.sh run there."""
    deploy = tmp_path / "deploy-venv"
    made = run([python((3, 10), exact=True), "-m", "venv", str(deploy)])
    assert made.returncode == 0, made.stderr
    pip = [str(deploy / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    installed = run([*pip, "-r", str(project / "requirements-deploy.txt")])
    assert installed.returncode == 0, installed.stderr[-3000:]
    aws = run([str(deploy / "bin" / "aws"), "--version"])
    assert aws.returncode == 0 and "Python/3.10" in aws.stdout + aws.stderr, aws.stdout + aws.stderr
    test = "tests/test_lifecycle.py::test_sagemaker_path_as_a_command_on_the_deploy_python"
    result = run(
        [sys.executable, "-m", "pytest", "-m", "container", "-q", test],
        cwd=project, env=dict(os.environ, DEPLOY_PYTHON=str(deploy / "bin" / "python")),
    )  # fmt: skip
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:] + result.stderr
