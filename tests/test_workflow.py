"""The rendered project's GitHub Actions workflow: valid against GitHub's schema (check-jsonschema's
vendored copy), clean under zizmor (offline), and every command it runs is one the project has."""

import re

import pytest
import yaml
from conftest import VENV_BIN, run

WORKFLOW = ".github/workflows/ci.yml"
ANSWERS = [{}, {"framework": "lightgbm", "algorithm_name": "churn", "aws_region": "eu-west-1"}]


@pytest.mark.parametrize("answers", ANSWERS)
def test_the_workflow_is_valid_against_githubs_schema(rendered, answers):
    project = rendered(**answers)
    result = run([str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", WORKFLOW],
                 cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("answers", ANSWERS)
def test_zizmor_finds_nothing(rendered, answers):
    project = rendered(**answers)
    result = run([str(VENV_BIN / "zizmor"), "--offline", "--no-progress", WORKFLOW], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout


def steps(project):
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    return workflow, [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


@pytest.mark.parametrize("answers", ANSWERS)
def test_every_command_it_runs_is_a_make_target_of_the_project(rendered, answers):
    project = rendered(**answers)
    targets = set(re.findall(r"^([a-z][\w-]*):", (project / "Makefile").read_text(), re.M))
    _, all_steps = steps(project)
    commands = [step["run"] for _, step in all_steps if "run" in step]
    made = [m for command in commands for m in re.findall(r"\bmake ([\w-]+)", command)]
    assert set(made) == {"venv", "lint", "test-all", "test-container", "push"}
    assert set(made) <= targets, set(made) - targets
    for command in commands:  # nothing else but installing the system packages the README names
        assert command.startswith(("make ", "sudo apt-get update && sudo apt-get install")), command


@pytest.mark.parametrize("answers", ANSWERS)
def test_it_pushes_on_a_tag_with_an_oidc_role_and_the_commit_as_the_tag(rendered, answers):
    project = rendered(**answers)
    workflow, all_steps = steps(project)
    text = (project / WORKFLOW).read_text()
    assert "secrets." not in text  # no long-lived keys: the role is assumed with GitHub's OIDC token
    push = workflow["jobs"]["push"]
    assert push["if"] == "startsWith(github.ref, 'refs/tags/v')" and set(push["needs"]) == {
        "lint", "test", "test-container"
    }  # fmt: skip
    assert push["permissions"] == {"contents": "read", "id-token": "write"}
    assert workflow["permissions"] == {} and all(
        job["permissions"] == {"contents": "read"} for name, job in workflow["jobs"].items() if name != "push"
    )
    [credentials] = [step for name, step in all_steps if "configure-aws-credentials" in step.get("uses", "")]
    assert credentials["with"] == {
        "role-to-assume": "${{ vars.AWS_ROLE_ARN }}",
        "aws-region": answers.get("aws_region", "us-east-1"),
    }
    [make_push] = [step for _, step in all_steps if step.get("run") == "make push"]
    assert make_push["env"] == {"TAG": "${{ github.sha }}"}
    for _, step in all_steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
