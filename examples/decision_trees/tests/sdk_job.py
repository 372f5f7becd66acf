"""One training job through a SageMaker SDK's local mode, as a user writes it.

tests/test_sdk_versions.py runs this file with the python of the SDK's own venv (see
tests/sdk_venv.py), as `python sdk_job.py v2|v3 SPEC.json`. SPEC holds the image, the channels
(local folders), the hyperparameters (typed: the SDK writes them as strings its own way), a
folder for the SDK's compose files and one for the artifact; this writes {"status", "artifact",
"seconds"} (of the train or fit call) to SPEC's "result" file. Only the standard library and the
SDK are imported here.
"""

import json
import sys
import tarfile
import time
from contextlib import nullcontext
from pathlib import Path

ROLE = "arn:aws:iam::111111111111:role/local-mode-needs-no-role"


def train_v3(spec: dict) -> tuple[str, Path, float]:
    """ModelTrainer starts the image with no command (its CMD, `train`, runs) and passes every
    non-string hyperparameter JSON-encoded: 5 -> "5", None -> "null", True -> "true"."""
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData
    from sagemaker.train.model_trainer import Mode

    trainer = ModelTrainer(
        training_image=spec["image"],
        training_mode=Mode.LOCAL_CONTAINER,
        local_container_root=spec["container_root"],  # plain paths: it refuses file:// URIs
        compute=Compute(instance_type="local_cpu", instance_count=1),
        role=ROLE,
        hyperparameters=spec["hyperparameters"],
        input_data_config=[InputData(channel_name=name, data_source=path) for name, path in spec["channels"].items()],
    )
    started = time.monotonic()
    trainer.train(wait=True)  # raises when the container exits non-zero (most of the time: see below)
    seconds = time.monotonic() - started
    artifact = Path(spec["container_root"]) / "compressed_artifacts" / "model.tar.gz"
    # Under load, v3's local mode has returned for a container that exited 1 (seen in CI): a job
    # whose artifact holds no model.json did not complete, whatever the SDK said.
    with tarfile.open(artifact) if artifact.is_file() else nullcontext() as archive:
        if archive is None or "model.json" not in {Path(m.name).name for m in archive.getmembers()}:
            raise RuntimeError(f"ModelTrainer returned, but {artifact} holds no model.json: the training job failed")
    return "Completed", artifact, seconds


def train_v2(spec: dict) -> tuple[str, Path, float]:
    """Estimator runs `train` and passes hyperparameters as str(value): 5 -> "5", None -> "None"."""
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession

    Path(spec["container_root"]).mkdir(parents=True, exist_ok=True)  # v2 makes its folders inside, not it
    session = LocalSession()
    # local_code and output_path: without them fit() asks STS for a default bucket.
    session.config = {"local": {"local_code": True, "container_root": spec["container_root"]}}
    estimator = Estimator(
        image_uri=spec["image"],
        role=ROLE,
        instance_count=1,
        instance_type="local",
        sagemaker_session=session,
        output_path=Path(spec["output"]).as_uri(),
        hyperparameters=spec["hyperparameters"],
    )
    started = time.monotonic()
    estimator.fit({name: Path(path).as_uri() for name, path in spec["channels"].items()}, wait=True)
    seconds = time.monotonic() - started
    job = estimator.latest_training_job.describe()
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("file://")
    return job["TrainingJobStatus"], Path(artifact), seconds


if __name__ == "__main__":
    sdk, spec_file = sys.argv[1], Path(sys.argv[2])
    spec = json.loads(spec_file.read_text())
    status, artifact, seconds = {"v2": train_v2, "v3": train_v3}[sdk](spec)
    result = {"status": status, "artifact": str(artifact), "seconds": seconds}
    Path(spec["result"]).write_text(json.dumps(result))
