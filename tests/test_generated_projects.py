"""Each framework's rendered project passes its own tests, as its user would run them.

The contract tests live once, in the rendered project (tests/), so every generated
project can prove itself; here they run for every framework choice.
"""

import fcntl
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import FRAMEWORKS, REPORT, render, run

FIGURE_PREFIXES = ("fuzz:", "soak ", "multi-model ", "serverless:", "front:", "checkpoints ", "sdk ")


def figures(output: str) -> list[str]:
    """The lines the rendered project's fuzz and load tests print at the end of its run."""
    return [line.strip() for line in output.splitlines() if line.startswith(FIGURE_PREFIXES)]


def summary(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return lines[-1].strip("= ") if lines else "no pytest summary"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A render of its own per framework: running its tests writes caches into it, which
    the manifest tests on the shared renders must not see."""
    cache = {}

    def get(framework):
        if framework not in cache:
            cache[framework] = render(tmp_path_factory.mktemp(f"project-{framework}"), framework=framework)
        return cache[framework]

    return get


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("tier", ["test", "test-all"])
def test_make_test(project, framework, tier):
    """`make test`, the user's loop (their model through the contract), and `make test-all`, which
    adds the tests marked deep: each passes on its own, with nothing skipped."""
    project = project(framework)
    started = time.monotonic()
    result = run(["make", tier, f"PYTHON={sys.executable}"], cwd=project)
    REPORT.append(f"{framework}: make {tier}: {summary(result.stdout)} ({time.monotonic() - started:.0f} s)")
    REPORT.extend(f"{framework}: {line}" for line in figures(result.stdout))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary(result.stdout) and "skipped" not in summary(result.stdout)
    assert ("deeper tests left for make test-all" in result.stdout) == (tier == "test"), result.stdout[-3000:]


# A project's container tests in two halves (pytest takes the last -m given): those that hold a name the
# Docker engine has once (marked exclusive: the SDK local mode's network, port 8080) wait their turn in
# the docker group; the rest run beside the other tiers.
HALVES = {"exclusive": "container and exclusive", "rest": "container and not exclusive"}


def half_group(project: str, half: str):
    """The exclusive half waits in the docker group; the rest of a project's runs in a group of its own."""
    return pytest.mark.xdist_group("docker" if half == "exclusive" else f"container-{project}")


def container_half(framework: str, half: str):
    return pytest.param(framework, half, marks=half_group(framework, half), id=f"{framework}-{half}")


def build_once(project: Path, image: str) -> None:
    """Build the image under a lock of its name, so that the two halves never build it at once (the
    second finds every layer cached)."""
    with open(Path(tempfile.gettempdir()) / f"{image}.build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run(["docker", "build", "-q", "-t", image, str(project)])
        assert result.returncode == 0, result.stdout + result.stderr


def make_test_container(project: Path, image: str, half: str):
    build_once(project, image)
    args = f'PYTEST_ARGS=-m "{HALVES[half]}"'
    return run(["make", "test-container", f"PYTHON={sys.executable}", f"IMAGE={image}", args], cwd=project)


@pytest.mark.container
@pytest.mark.parametrize("framework, half", [container_half(f, h) for f in FRAMEWORKS for h in HALVES])
def test_make_test_container(project, framework, half):
    project = project(framework)
    image = f"byoc-test-{framework}"
    started = time.monotonic()
    result = make_test_container(project, image, half)
    REPORT.append(f"{framework}: make test-container ({half}): {summary(result.stdout)} "
                  f"({time.monotonic() - started:.0f} s)")  # fmt: skip
    REPORT.extend(f"{framework}: {line}" for line in figures(result.stdout))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary(result.stdout) and "skipped" not in summary(result.stdout)
    if half == "rest":
        size = run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout.strip()
        REPORT.append(f"{framework}: image size {int(size) / 1e6:.0f} MB")
