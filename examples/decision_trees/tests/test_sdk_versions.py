"""The image trained through both SageMaker SDKs' local mode: v3's ModelTrainer and v2's Estimator.

They start it differently: ModelTrainer with no command (the image's CMD, `train`, runs) and
non-string hyperparameters JSON-encoded ("5", "null", "true"); Estimator with `train` and
str(value) ("5", "None", "True"). Each SDK runs in a venv of its own (tests/sdk_venv.py says why)
through tests/sdk_job.py, in a subprocess. The job must complete, its model.tar.gz hold a model
predicting what `docker run IMAGE train` predicts on the same data, and model.json record every
hyperparameter typed as the schema types the plain strings.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import FIGURES, PROJECT, TEST_DIR, docker, load_model
from sdk_venv import sdk_python

from contract import hyperparameters as hp

pytestmark = pytest.mark.container

HERE = Path(__file__).parent
SDKS = ["v2", "v3"]  # tests/requirements-sdk-<sdk>.txt


def require_compose() -> None:
    """Local mode runs `docker compose` (v2 plugin) or `docker-compose`; CI must have one."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    if not (plugin or shutil.which("docker-compose")):
        message = "SDK local mode needs docker compose (Debian: apt-get install docker-compose)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


@pytest.fixture(scope="session")
def sdk_pythons():
    """sdk_pythons("v2") -> the python of that SDK's venv (made on first use, then cached)."""
    made = {}

    def get(sdk: str) -> Path:
        if sdk not in made:
            python, seconds = sdk_python(HERE / f"requirements-sdk-{sdk}.txt")
            FIGURES.append(f"sdk {sdk}: venv " + ("cached" if seconds is None else f"made in {seconds:.0f} s"))
            made[sdk] = python
        return made[sdk]

    return get


@pytest.fixture(scope="module")
def reference(image, tmp_path_factory) -> Path:
    """The model folder `docker run IMAGE train` writes for the sample data and hyperparameters."""
    opt_ml = tmp_path_factory.mktemp("reference") / "opt_ml"
    shutil.copytree(TEST_DIR / "input", opt_ml / "input")
    docker("run", "--rm", "-v", f"{opt_ml}:/opt/ml", image, "train")
    return opt_ml / "model"


def run_job(sdk: str, python: Path, image: str, hyperparameters: dict, work: Path):
    """tests/sdk_job.py in the SDK's venv: (the process, its result or None, the extracted model
    folder or None). The SDK leaves its stopped containers and network: removed here, as the
    lifecycle script's local mode removes its own (lifecycle/backends.py's LocalDocker)."""
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from lifecycle.backends import TELEMETRY_OPT_OUT, LocalDocker

    containers = work / "containers"
    containers.mkdir(parents=True)
    (work / "sagemaker-config.yaml").write_text(TELEMETRY_OPT_OUT)
    channels = {p.name: str(p) for p in sorted((TEST_DIR / "input" / "data").iterdir()) if p.is_dir()}
    spec = {
        "image": image,
        "channels": channels,
        "hyperparameters": hyperparameters,
        # v3 names its compose project after this folder: one per run, so runs never share containers.
        "container_root": str(containers / f"{sdk}-{uuid.uuid4().hex[:8]}"),
        "output": str(work / "output"),
        "result": str(work / "result.json"),
    }
    (work / "spec.json").write_text(json.dumps(spec))
    # No AWS account: a region, no metadata service, no telemetry (it would call AWS at every step).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    env["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"  # v2 warns at import, and for each object, that v3 exists
    env["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(work / "sagemaker-config.yaml")
    local = LocalDocker(containers)
    try:
        process = subprocess.run(
            [str(python), str(HERE / "sdk_job.py"), sdk, str(work / "spec.json")],
            env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        result = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else None
        model = None
        if result is not None and Path(result["artifact"]).is_file():
            model = work / "model"
            with tarfile.open(result["artifact"]) as tar:
                tar.extractall(model, filter="data")
    finally:
        problems = local.cleanup()  # the v3 artifact lies under containers/: extracted first
    assert problems == [], problems
    assert local.containers() == []
    return process, result, model


def as_json(values: dict) -> str:
    """Values compared with their types: 5, 5.0, true and "5" all differ here (in Python 5 == 5.0, 1 == True)."""
    return json.dumps(values, sort_keys=True)


@pytest.mark.exclusive
@pytest.mark.parametrize("sdk", SDKS)
def test_sdk_local_training_matches_docker_run_train(sdk, sdk_pythons, image, reference, sample_rows, tmp_path):
    require_compose()
    sample = json.loads((TEST_DIR / "input" / "config" / "hyperparameters.json").read_text())
    # Every schema name, typed as a user writes them in Python: each SDK writes each type its own way.
    typed = hp.parse(sample, hp.load_schema())
    process, result, model = run_job(sdk, sdk_pythons(sdk), image, typed, tmp_path)
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-6000:]
    assert result["status"] == "Completed", output[-6000:]
    FIGURES.append(f"sdk {sdk}: local training job {result['seconds']:.1f} s")
    saved = sorted(os.listdir(model)) if model else []
    assert "model.json" in saved, f"{result['artifact']} holds {saved}, not a model: did the image train?"
    assert as_json(json.loads((model / "model.json").read_text())["hyperparameters"]) == as_json(typed)
    assert as_json(json.loads((reference / "model.json").read_text())["hyperparameters"]) == as_json(typed)
    assert np.array_equal(load_model(model).predict(sample_rows), load_model(reference).predict(sample_rows))


@pytest.mark.exclusive
@pytest.mark.parametrize("sdk", SDKS)
def test_a_failed_sdk_job_fails_with_the_containers_reason(sdk, sdk_pythons, image, tmp_path):
    require_compose()
    process, result, model = run_job(sdk, sdk_pythons(sdk), image, {"no_such_hyperparameter": 1}, tmp_path)
    output = process.stdout + process.stderr
    assert process.returncode != 0 and result is None, output[-6000:]
    assert "unknown hyperparameter(s) no_such_hyperparameter" in output, output[-6000:]
