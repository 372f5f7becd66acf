"""How long a training job may run, and managed spot training: what CreateTrainingJob (and a tuning
job's TrainingJobDefinition) get as StoppingCondition, EnableManagedSpotTraining and CheckpointConfig."""

from dataclasses import dataclass

MAX_RUNTIME_SECONDS = 3600
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"  # SageMaker's default: the image writes and resumes there
CHECKPOINTS_KEY = "checkpoints"  # under the run's prefix: s3://BUCKET/PREFIX/NAME/checkpoints/


@dataclass(frozen=True)
class Stopping:
    max_runtime: int = MAX_RUNTIME_SECONDS
    spot: bool = False
    max_wait: int | None = None  # spot only: runtime plus the time spent waiting for spot capacity
    checkpoint_local_path: str | None = None  # spot only (default CHECKPOINT_LOCAL_PATH)

    @property
    def wait_seconds(self) -> int:
        return self.max_wait if self.max_wait is not None else 2 * self.max_runtime

    def problems(self) -> list[str]:
        """What SageMaker would refuse, or what would be ignored, in one sentence each."""
        found = []
        if self.max_runtime < 1:
            found.append("--max-runtime must be at least 1 second")
        if not self.spot:
            if self.max_wait is not None:
                found.append("--max-wait applies to managed spot training only: add --spot")
            if self.checkpoint_local_path is not None:
                found.append("--checkpoint-local-path applies to managed spot training only: add --spot")
            return found
        if self.wait_seconds < self.max_runtime:
            found.append(
                f"--max-wait ({self.wait_seconds} s) must be at least --max-runtime ({self.max_runtime} s):"
                " it counts the training time plus the time spent waiting for spot capacity"
            )
        path = self.checkpoint_local_path
        if path is not None and not path.startswith("/"):
            found.append(f"--checkpoint-local-path must be an absolute path in the container, not {path!r}")
        return found

    def environment(self) -> dict[str, str]:
        """What the container must be told: a LocalPath other than the default (contract/paths.py)."""
        path = self.checkpoint_local_path
        return {"CHECKPOINT_DIR": path} if self.spot and path and path.rstrip("/") != CHECKPOINT_LOCAL_PATH else {}

    def request(self, storage) -> dict:
        """The CreateTrainingJob fields; checkpoints go to the run's checkpoints/ folder in storage."""
        if not self.spot:
            return {"StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime}}
        return {
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime, "MaxWaitTimeInSeconds": self.wait_seconds},
            "EnableManagedSpotTraining": True,
            "CheckpointConfig": {
                "S3Uri": storage.folder_uri(CHECKPOINTS_KEY),
                "LocalPath": self.checkpoint_local_path or CHECKPOINT_LOCAL_PATH,
            },
        }
