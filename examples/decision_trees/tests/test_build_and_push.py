"""build_and_push.sh for real: a Docker build, ECR answered by moto, a push to a local registry.

Nothing reaches AWS: AWS_ENDPOINT_URL points the aws CLI at moto, and REGISTRY_HOST sends
the push to a `docker-registry` on 127.0.0.1 (moto's ECR host name does not resolve).
Each test works on its own copy of the project, so git state and image names never clash.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests
from aws_fakes import (
    BUILD_PLATFORM,
    SECRET_ACCESS_KEY,
    build_and_push,
    client,
    copy_project,
    ecr_password,
    image_details,
    moto_server,
    pull_back,
    registry,
)
from conftest import PROJECT, docker, require_tool

pytestmark = pytest.mark.container

ALGORITHM = "decision_trees"
ARCHITECTURE = BUILD_PLATFORM.split("/")[1]  # the engine's own
TIMESTAMP = r"\d{8}T\d{6}Z"


@pytest.fixture(scope="module")
def moto(image, tmp_path_factory):  # image: a Docker engine answers and the layer cache is warm
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(scope="module")
def registry_host(image, tmp_path_factory):
    with registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture
def local_tags():
    """Image references a test made; removed afterwards (the layers stay for the cache)."""
    made: list[str] = []
    yield made
    for reference in made:
        docker("rmi", reference, check=False)


def git(project: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "commit.gpgsign=false"]
    result = subprocess.run(["git", "-C", str(project), *identity, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def committed_project(tmp_path: Path) -> Path:
    """A copy of the project as the only content of a fresh git repository, all committed."""
    require_tool("git", "Debian: apt-get install git")
    project = copy_project(tmp_path)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the project")
    return project


def registry_tags(registry_host: str, name: str) -> list[str]:
    answer = requests.get(f"http://{registry_host}/v2/{name}/tags/list", timeout=10)
    if answer.status_code == 404:  # no such repository yet
        return []
    answer.raise_for_status()
    return answer.json().get("tags") or []


def repositories(moto: str) -> dict[str, dict]:
    return {r["repositoryName"]: r for r in client("ecr", moto).describe_repositories()["repositories"]}


def assert_pushed(push, registry_host: str, name: str, tag_pattern: str, local_tags: list[str]) -> str:
    """The run succeeded, its last line (and only stdout line) is the URI, and the registry has it."""
    assert push.result.returncode == 0, push.output
    uri = push.uri
    local_tags.append(uri)
    assert push.result.stdout.splitlines() == [uri], push.result.stdout
    match = re.fullmatch(rf"{re.escape(registry_host)}/{re.escape(name)}:({tag_pattern})", uri)
    assert match, uri
    assert match.group(1) in registry_tags(registry_host, name)
    return uri


def assert_no_secrets(push, moto: str) -> None:
    for secret in (ecr_password(moto), SECRET_ACCESS_KEY):
        assert secret not in push.output


def test_first_push_creates_the_repository_and_tags_the_commit(
    moto, registry_host, committed_project, tmp_path, local_tags
):
    sha = git(committed_project, "rev-parse", "--short=12", "HEAD")
    push = build_and_push(committed_project, moto, registry_host, tmp_path / "docker-config")
    uri = assert_pushed(push, registry_host, ALGORITHM, re.escape(sha), local_tags)
    assert_no_secrets(push, moto)

    repository = repositories(moto)[ALGORITHM]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["imageTagMutability"] == "IMMUTABLE"

    built = image_details(uri)
    assert built["Architecture"] == ARCHITECTURE and built["Os"] == "linux"
    assert pull_back(uri) == built["Id"]  # the registry holds exactly what was built

    # Again, with the repository in place and nothing changed: the same immutable tag.
    again = build_and_push(committed_project, moto, registry_host, tmp_path / "docker-config")
    assert assert_pushed(again, registry_host, ALGORITHM, re.escape(sha), local_tags) == uri
    assert_no_secrets(again, moto)
    assert list(repositories(moto)).count(ALGORITHM) == 1


def test_uncommitted_changes_give_a_dirty_tag_in_an_existing_repository(
    moto, registry_host, committed_project, tmp_path, local_tags
):
    name = f"{ALGORITHM}-existing"
    client("ecr", moto).create_repository(repositoryName=name)  # made earlier, without scanning
    local_tags.append(f"{name}:latest")
    sha = git(committed_project, "rev-parse", "--short=12", "HEAD")
    readme = committed_project / "local_test" / "notes.txt"
    readme.write_text("an uncommitted file\n")

    push = build_and_push(committed_project, moto, registry_host, tmp_path / "docker-config", name)
    assert_pushed(push, registry_host, name, rf"{re.escape(sha)}-dirty-{TIMESTAMP}", local_tags)
    assert_no_secrets(push, moto)
    assert repositories(moto)[name]["imageScanningConfiguration"]["scanOnPush"] is False  # left as it was


def test_tag_from_the_environment_or_the_time_outside_git(moto, registry_host, tmp_path, local_tags):
    project = copy_project(tmp_path)
    name = f"{ALGORITHM}-nogit"
    local_tags.append(f"{name}:latest")
    config = tmp_path / "docker-config"

    tagged = build_and_push(project, moto, registry_host, config, name, TAG="release-1.2")
    assert_pushed(tagged, registry_host, name, re.escape("release-1.2"), local_tags)
    timed = build_and_push(project, moto, registry_host, config, name)
    assert_pushed(timed, registry_host, name, f"build-{TIMESTAMP}", local_tags)
    assert repositories(moto)[name]["imageScanningConfiguration"]["scanOnPush"] is True


def test_a_tag_already_in_ecr_is_reported_not_pushed_again(moto, registry_host, tmp_path):
    """ECR refuses a second push of an immutable tag, even of the same image: a rerun on the
    same commit must succeed without building."""
    name = f"{ALGORITHM}-kept"
    ecr = client("ecr", moto)
    ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    ecr.put_image(repositoryName=name, imageManifest=json.dumps(manifest), imageTag="release-1")

    push = build_and_push(PROJECT, moto, registry_host, tmp_path / "docker-config", name, TAG="release-1")
    assert push.result.returncode == 0, push.output
    assert push.result.stdout.splitlines() == [f"{registry_host}/{name}:release-1"]
    assert "already in ECR" in push.result.stderr and "building" not in push.result.stderr
    assert registry_tags(registry_host, name) == []  # nothing was pushed


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        ((), {"TAG": "latest"}, "TAG=latest is mutable"),
        ((), {"TAG": "-starts-with-a-dash"}, "must be 1 to 122"),
        ((), {"TAG": "t" * 123}, "must be 1 to 122"),
        ((), {"PLATFORMS": "linux/amd64,linux/riscv64"}, "must be linux/amd64 and/or linux/arm64"),
        (("Not_An_ECR_Name",), {}, "must be lowercase"),
    ],
)
def test_refuses_moving_tags_and_bad_names(moto, registry_host, tmp_path, args, env, words):
    push = build_and_push(PROJECT, moto, registry_host, tmp_path / "docker-config", *args, **env)
    assert push.result.returncode != 0
    assert push.result.stdout == ""  # no URI: nothing was pushed
    assert words in push.result.stderr


def test_never_pushes_an_image_of_another_architecture(moto, registry_host, tmp_path, local_tags):
    """Docker's legacy builder quietly reuses a local base image of the host's architecture."""
    other = "arm64" if ARCHITECTURE == "amd64" else "amd64"
    name = f"{ALGORITHM}-{other}"
    local_tags.append(f"{name}:latest")
    push = build_and_push(
        PROJECT, moto, registry_host, tmp_path / "docker-config", name, PLATFORMS=f"linux/{other}", TAG="arch-check"
    )
    local_tags.append(f"{registry_host}/{name}:arch-check")
    if push.result.returncode == 0:  # a builder that really targets the platform (BuildKit with QEMU)
        assert image_details(push.uri)["Architecture"] == other
    else:
        assert "arch-check" not in registry_tags(registry_host, name)
        assert push.result.stdout == ""
