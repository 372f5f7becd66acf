"""What a render produces: the exact files, their modes, no Jinja left, the same bytes every time."""

import filecmp
import json
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml
from conftest import DEFAULTS, FRAMEWORKS, ROOT, render, run, tool_env

# The contract package: the entry points and the modules of SageMaker's contract (the template's).
CONTRACT_FILES = [
    "contract/__init__.py",
    "contract/cluster.py",
    "contract/cpus.py",
    "contract/dataset.py",
    "contract/decimal_csv.py",
    "contract/docs.py",
    "contract/hosting.py",
    "contract/hyperparameters.py",
    "contract/interface.py",
    "contract/metrics.py",
    "contract/model_artifact.py",
    "contract/model_store.py",
    "contract/multihost.py",
    "contract/nginx.conf",
    "contract/paths.py",
    "contract/payloads.py",
    "contract/predictor.py",
    "contract/serve",
    "contract/serving.py",
    "contract/tables.py",
    "contract/train",
    "contract/training.py",
    "contract/wsgi.py",
]
# Contract files rendered only for some frameworks (hooks/post_gen_project.py keeps them).
FRAMEWORK_CONTRACT_FILES = {
    "scikit-learn": ["contract/sklearn_files.py"],
    "xgboost": ["contract/boosting.py", "contract/checkpoints.py", "contract/xgboost_collective.py"],
    "lightgbm": ["contract/boosting.py", "contract/checkpoints.py", "contract/lightgbm_network.py"],
}
# Project files rendered only for some frameworks: the tests of their framework files.
FRAMEWORK_PROJECT_FILES = {
    "scikit-learn": ["tests/test_sklearn_files.py"],
    "xgboost": ["tests/test_checkpoints.py", "tests/test_xgboost_collective.py"],
    "lightgbm": ["tests/test_checkpoints.py", "tests/test_lightgbm_network.py"],
}
# The program folder: the user's files, nothing else.
PROGRAM_FILES = ["hyperparameters.json", "iteration_metrics.json", "model.py", "requirements.lock", "requirements.txt"]
PROJECT_FILES = [
    ".dockerignore",
    ".gitattributes",
    ".github/workflows/ci.yml",
    ".gitignore",
    "Dockerfile",
    "Makefile",
    "README.md",
    "docs/dependencies.md",
    "docs/deploy.md",
    "docs/environment.md",
    "docs/errors.md",
    "docs/files.md",
    "docs/hosting.md",
    "docs/hyperparameters.md",
    "docs/model-files.md",
    "docs/serving.md",
    "docs/testing.md",
    "docs/training.md",
    "docs/training-at-scale.md",
    "docs/updates.md",
    "docs/your-model.md",
    "benchmark.py",
    "build_and_push.sh",
    "local_test/invoke.py",
    "local_test/payload.csv",
    "local_test/predict.sh",
    "local_test/serve_local.sh",
    "local_test/test_dir/input/config/hyperparameters.json",
    "local_test/test_dir/input/config/inputdataconfig.json",
    "local_test/test_dir/input/config/resourceconfig.json",
    "local_test/test_dir/input/data/training/iris.csv",
    "lifecycle/__init__.py",
    "lifecycle/backends.py",
    "lifecycle/endpoints.py",
    "lifecycle/front.py",
    "lifecycle/multimodel_host.py",
    "lifecycle/project.py",
    "lifecycle/resources.py",
    "lifecycle/runtime_errors.py",
    "lifecycle/spot.py",
    "lifecycle/steps.py",
    "lifecycle/storage.py",
    "lifecycle/tuning.py",
    "local_test/test_dir/input/data/validation/iris.csv",
    "local_test/train_local.sh",
    "pyproject.toml",
    "requirements-deploy.txt",
    "requirements-dev.txt",
    "requirements-serving.txt",
    "requirements-tools.txt",
    "sagemaker_lifecycle.py",
    "tests/aws_fakes.py",
    "tests/conftest.py",
    "tests/endpoints.py",
    "tests/test_build_and_push.py",
    "tests/test_container.py",
    "tests/test_contract.py",
    "tests/test_decimal_csv.py",
    "tests/test_docs.py",
    "tests/test_distributed.py",
    "tests/test_front.py",
    "tests/test_fuzz.py",
    "tests/test_hooks.py",
    "tests/test_hosting_modes.py",
    "tests/test_hyperparameters.py",
    "tests/test_interface.py",
    "tests/test_lifecycle.py",
    "tests/test_limits.py",
    "tests/test_load.py",
    "tests/test_model.py",
    "tests/test_model_files.py",
    "tests/test_multimodel.py",
    "tests/test_ownership.py",
    "tests/test_payloads.py",
    "tests/test_requirements.py",
    "tests/requirements-sdk-v2.txt",
    "tests/requirements-sdk-v3.txt",
    "tests/sdk_job.py",
    "tests/sdk_venv.py",
    "tests/test_sdk_versions.py",
    "tests/test_serve.py",
    "tests/test_tables.py",
    "tests/test_text_features.py",
    "tests/test_train.py",
    "tests/test_tuning.py",
]
EXECUTABLE = {
    "build_and_push.sh",
    "contract/serve",
    "contract/train",
    "local_test/invoke.py",
    "local_test/predict.sh",
    "local_test/serve_local.sh",
    "local_test/train_local.sh",
}


def manifest(project):
    return sorted(
        str(p.relative_to(project)) for p in project.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


def expected_manifest(name, framework=DEFAULTS["framework"][0]):
    contract = CONTRACT_FILES + FRAMEWORK_CONTRACT_FILES[framework]
    program = [f"{name}/{f}" for f in PROGRAM_FILES]
    return sorted(PROJECT_FILES + FRAMEWORK_PROJECT_FILES[framework] + contract + program)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_exact_manifest_and_modes(rendered, framework):
    project = rendered(framework=framework)
    name = DEFAULTS["algorithm_name"]
    assert project.name == name
    assert manifest(project) == expected_manifest(name, framework)
    for path in manifest(project):
        mode = (project / path).stat().st_mode
        assert bool(mode & stat.S_IXUSR) == (path in EXECUTABLE), path


@pytest.mark.parametrize(
    "answers",
    [
        {"framework": "xgboost"},
        {"framework": "lightgbm"},
        {"algorithm_name": "churn-model"},
        {"aws_region": "eu-west-1"},
        {"training_instance_type": "ml.c5.2xlarge", "hosting_instance_type": "ml.c5.xlarge"},
        {"platforms": "linux/amd64", "hosting_instance_type": "ml.c5.large"},
        {"hosting_instance_type": "ml.c7g.large"},
        {"base_image": "ubuntu:24.04"},
    ],
    ids=lambda answers: ",".join(f"{k}={v}" for k, v in answers.items()),
)
def test_each_answer_reaches_the_files_it_belongs_in(rendered, answers):
    project = rendered(**answers)
    name = answers.get("algorithm_name", DEFAULTS["algorithm_name"])
    assert manifest(project) == expected_manifest(name, answers.get("framework", DEFAULTS["framework"][0]))
    text = {path: (project / path).read_text() for path in manifest(project) if not path.endswith(".npy")}
    if "framework" in answers:
        meta = text[f"{name}/model.py"]
        assert f'FRAMEWORK = "{answers["framework"]}"' in meta
        assert answers["framework"].replace("xgboost", "xgboost-cpu") in text[f"{name}/requirements.txt"]
        assert answers["framework"].replace("xgboost", "xgboost-cpu") + "==" in text[f"{name}/requirements.lock"]
    if "algorithm_name" in answers:
        assert f"IMAGE ?= {name}" in text["Makefile"]
        assert f"COPY {name} /opt/program/{name}" in text["Dockerfile"]
        assert f'image="${{1:-{name}}}"' in text["local_test/train_local.sh"]
    if "aws_region" in answers:
        assert answers["aws_region"] in text["build_and_push.sh"]
        assert answers["aws_region"] in text["lifecycle/project.py"]
    platforms = answers.get("platforms", DEFAULTS["platforms"])
    assert f'platforms="${{PLATFORMS:-{platforms}}}"' in text["build_and_push.sh"]
    if "hosting_instance_type" in answers:
        assert answers["hosting_instance_type"] in text["lifecycle/project.py"]
    if "training_instance_type" in answers:
        assert answers["training_instance_type"] in text["lifecycle/project.py"]
        config = json.loads(text["local_test/test_dir/input/config/resourceconfig.json"])
        assert config["current_instance_type"] == answers["training_instance_type"]
    if "base_image" in answers:
        assert f"ARG BASE_IMAGE={answers['base_image']}" in text["Dockerfile"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_jinja_left_and_config_files_parse(rendered, framework):
    project = rendered(framework=framework)
    for path in manifest(project):
        content = (project / path).read_text()
        if path.startswith(".github/"):  # GitHub's own expressions, ${{ ... }}, are meant to stay
            content = re.sub(r"\$\{\{[^}]*\}\}", "", content)
        assert not re.search(r"\{\{|\{%|\{#|cookiecutter\.", content), path
        assert "\r" not in content, path
        if path.endswith(".json"):
            json.loads(content)
        if path.endswith(".yml"):
            yaml.safe_load(content)
        assert content.endswith("\n") and not content.endswith("\n\n"), path


def test_renders_are_deterministic(tmp_path):
    first, second = render(tmp_path / "a"), render(tmp_path / "b")
    comparison = filecmp.dircmp(first, second)
    assert not (comparison.diff_files or comparison.left_only or comparison.right_only)
    assert manifest(first) == manifest(second)
    for path in manifest(first):
        assert (first / path).read_bytes() == (second / path).read_bytes()


def test_plain_cookiecutter_on_the_repository_works_from_the_command_line(tmp_path):
    """The repository root is the template: no --directory flag needed."""
    result = subprocess.run(
        ["cookiecutter", "--no-input", str(ROOT), "framework=lightgbm", "algorithm_name=from-cli", "-o", str(tmp_path)],
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert 'FRAMEWORK = "lightgbm"' in (tmp_path / "from-cli" / "from-cli" / "model.py").read_text()


def test_train_and_serve_have_lf_shebangs(rendered):
    project = rendered()
    for script in ("train", "serve"):
        raw = (project / "contract" / script).read_bytes()
        assert raw.startswith(b"#!/usr/bin/env python3\n")
        assert b"\r" not in raw
    assert os.access(project / "contract" / "train", os.X_OK)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_frameworks_lock_has_every_pin_and_pins_every_package(rendered, framework):
    """templates/frameworks/*/requirements.lock (scripts/lock.sh) against the rendered project's own
    check: every pin of its requirements.txt and requirements-serving.txt, at its version."""
    project = rendered(framework=framework)
    check = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
                 str(project / "tests" / "test_requirements.py")], cwd=project)  # fmt: skip
    assert check.returncode == 0, f"run scripts/lock.sh:\n{check.stdout[-3000:]}"
