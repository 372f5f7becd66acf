"""Every render lints clean: ruff, shellcheck, hadolint, nginx -t, make -n."""

import pytest
from conftest import FRAMEWORKS, run, tool_env

SCRIPTS = ["build_and_push.sh", "local_test/train_local.sh", "local_test/serve_local.sh", "local_test/predict.sh"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_ruff(rendered, framework):
    project = rendered(framework=framework)
    result = run(["ruff", "check", "--no-cache", "."], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(
        [
            "ruff",
            "check",
            "--no-cache",
            "--select",
            "E,F,W,B,UP,I",
            "--line-length",
            "120",
            "contract/train",
            "contract/serve",
        ],
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {
            "algorithm_name": "churn-model",
            "platforms": "linux/amd64",
        },
    ],
)
def test_shellcheck_and_hadolint(rendered, answers):
    project = rendered(**answers)
    result = run(["shellcheck", "--severity=style", *SCRIPTS], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(["hadolint", "Dockerfile"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env", [{}, {"SAGEMAKER_BIND_TO_PORT": "9090", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"}])
def test_nginx_accepts_the_generated_config(rendered, tmp_path, env):
    """The config exactly as `serve` writes it (serving.nginx_config), checked by nginx itself."""
    project = rendered()
    conf = tmp_path / "nginx.conf"
    code = (
        "import sys, pathlib; from contract import serving; d = pathlib.Path(sys.argv[1]);"
        "pathlib.Path(sys.argv[2]).write_text(serving.nginx_config(d, d / 'gunicorn.sock'))"
    )
    result = run(["python", "-c", code, str(tmp_path), str(conf)], cwd=project, env=dict(tool_env(), **env))
    assert result.returncode == 0, result.stderr
    assert f"listen 127.0.0.1:{env.get('SAGEMAKER_BIND_TO_PORT', '8080')} " in conf.read_text()
    check = run(["nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)])
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr


def test_the_makefile_parses(rendered):
    project = rendered()
    result = run(["make", "-n", "build", "train-local", "serve-local", "predict", "test", "push", "lint"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "docker build -t decision_trees ." in result.stdout  # the machine's own architecture: fast
