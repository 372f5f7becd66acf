"""The pre-generation hook: bad answers stop the render with one sentence and leave nothing behind."""

import importlib.util
import subprocess

import pytest
from conftest import DEFAULTS, ROOT, TEMPLATE, tool_env

spec = importlib.util.spec_from_file_location("pre_gen_project", TEMPLATE / "hooks" / "pre_gen_project.py")
hook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hook)

ANSWERS = {k: (v[0] if isinstance(v, list) else v) for k, v in DEFAULTS.items() if not k.startswith("_")}


def cli_render(tmp_path, *pairs):
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        ["cookiecutter", "--no-input", str(ROOT), *pairs, "-o", str(out)],
        env=dict(tool_env(), CANARY=str(tmp_path / "pwned")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, out


def test_the_defaults_pass():
    assert hook.problems(ANSWERS) == []


@pytest.mark.parametrize(
    "name",
    ["decision_trees", "a", "xgb2", "churn-model", "my_algo-v2", "a" * 32],
)
def test_good_algorithm_names(name):
    assert hook.problems(dict(ANSWERS, algorithm_name=name)) == []


@pytest.mark.parametrize(
    "name",
    ["", "Decision_Trees", "2fast", "_x", "x_", "x-", "a__b", "a--b", "has space", "dots.no", "a" * 33, "ünï", "x/y"],
)
def test_bad_algorithm_names(name):
    [problem] = hook.problems(dict(ANSWERS, algorithm_name=name))
    assert "algorithm_name" in problem and problem.endswith(".")


@pytest.mark.parametrize(
    "answers, key",
    [
        ({"training_instance_type": "ml.m7g.large"}, "training_instance_type"),
        ({"training_instance_type": "ml.c6gn.xlarge", "hosting_instance_type": "ml.c6g.large"},
         "training_instance_type"),  # fmt: skip
        ({"platforms": "linux/amd64", "hosting_instance_type": "ml.c7g.xlarge"}, "hosting_instance_type"),
        ({"platforms": "linux/arm64"}, "platforms"),
        ({"platforms": "linux/amd64, linux/arm64"}, "platforms"),
        ({"platforms": "linux/amd64,linux/amd64"}, "platforms"),
        ({"platforms": "windows/amd64"}, "platforms"),
        ({"platforms": ""}, "platforms"),
        ({"hosting_instance_type": "m5.large"}, "hosting_instance_type"),
        ({"aws_region": "mars-1"}, "aws_region"),
        ({"base_image": "debian:bookworm-slim"}, "base_image"),
        ({"base_image": "ubuntu:22.04"}, "base_image"),
        ({"base_image": "Not An Image"}, "base_image"),
        ({"framework": "tensorflow"}, "framework"),
    ],
)
def test_forbidden_answers_and_combinations(answers, key):
    found = hook.problems(dict(ANSWERS, **answers))
    assert found and all(p.endswith(".") for p in found)
    assert any(p.startswith(key) for p in found), found


def test_training_on_a_graviton_type_names_the_reason():
    [problem] = hook.problems(dict(ANSWERS, training_instance_type="ml.m7g.large"))
    assert "SageMaker has no Graviton training instances" in problem


@pytest.mark.parametrize(
    "answers",
    [
        {"hosting_instance_type": "ml.c7gn.xlarge"},  # the default platforms hold both architectures
        {"hosting_instance_type": "ml.m6gd.large", "platforms": "linux/arm64,linux/amd64"},
        {"hosting_instance_type": "ml.c5.xlarge", "platforms": "linux/amd64"},
        {"training_instance_type": "ml.g5.xlarge"},  # a GPU family, x86: the g is not a Graviton suffix
    ],
)
def test_x86_training_with_graviton_or_x86_hosting_passes(answers):
    assert hook.problems(dict(ANSWERS, **answers)) == []


@pytest.mark.parametrize(
    "name",
    [
        # A slash would make cookiecutter create parent folders before the hook runs: no slashes here.
        'x"; import os; os.system("touch $CANARY"); "',
        "x'''; import os; os.system('touch $CANARY') #",
        'x"""; __import__("os").system("touch $CANARY") #',
        "x\\",
        "x\nimport os",
    ],
)
def test_injection_attempts_are_rejected_as_data_and_leave_nothing(tmp_path, name):
    canary = tmp_path / "pwned"
    result, out = cli_render(tmp_path, f"algorithm_name={name}")
    assert result.returncode != 0
    assert "algorithm_name" in result.stderr
    assert not canary.exists()
    assert list(out.iterdir()) == []


def test_a_bad_answer_on_the_command_line_leaves_no_project(tmp_path):
    result, out = cli_render(tmp_path, "algorithm_name=Bad Name")
    assert result.returncode != 0
    assert "ERROR: algorithm_name 'Bad Name' must be" in result.stderr
    assert list(out.iterdir()) == []


def test_the_hook_reads_answers_as_json_data():
    source = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text()
    assert "| tojson" in source
    # No answer is pasted into a string literal anywhere else in the hook.
    assert source.count("cookiecutter.") == len(ANSWERS)
