"""SageMaker's hosting modes and the limits of each: one table for the container, the deploy
calls (lifecycle/) and the local front door (lifecycle/front.py).

A mode's limits reach the container as two settings, read by contract/serving.py and used
by nginx, gunicorn and Flask alike:
- SAGEMAKER_MODEL_SERVER_TIMEOUT: seconds for one request (nginx's proxy timeouts, gunicorn's
  --timeout);
- MAX_BODY_MB: the largest request body (nginx's client_max_body_size, Flask's MAX_CONTENT_LENGTH).
The lifecycle puts both in the model's Environment, so the endpoint and the container agree.

Only the standard library here: the deploy side (Python 3.10, no numpy) imports this file too.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from dataclasses import dataclass

MB = 1024 * 1024
TIMEOUT_VARIABLE = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
BODY_VARIABLE = "MAX_BODY_MB"
WORKERS_VARIABLE = "SAGEMAKER_MODEL_SERVER_WORKERS"


@dataclass(frozen=True)
class Limits:
    """What SageMaker enforces in front of the container, in one hosting mode."""

    body_bytes: int  # the largest request body SageMaker accepts
    timeout_seconds: int  # how long SageMaker waits for the answer
    workers: int | None = None  # None: one per CPU allotted

    @property
    def body_mb(self) -> int:
        return -(-self.body_bytes // MB)

    def environment(self) -> dict[str, str]:
        """The container's Environment for this mode: the same limits, one setting each."""
        env = {TIMEOUT_VARIABLE: str(self.timeout_seconds), BODY_VARIABLE: str(self.body_mb)}
        if self.workers is not None:
            env[WORKERS_VARIABLE] = str(self.workers)
        return env


# Sources: the InvokeEndpoint and InvokeEndpointAsync API references, the serverless and async
# developer guides, CreateTransformJob's MaxPayloadInMB and InvocationsTimeoutInSeconds.
MODES = {
    "realtime": Limits(body_bytes=6 * MB, timeout_seconds=60),
    "multimodel": Limits(body_bytes=6 * MB, timeout_seconds=60),
    "inference-component": Limits(body_bytes=6 * MB, timeout_seconds=60),
    # One worker: serverless memory starts at 1 GB, and the guide recommends one.
    "serverless": Limits(body_bytes=4 * MB, timeout_seconds=60, workers=1),
    # Bodies come from S3 (up to 1 GB); InvocationTimeoutSeconds is at most 3600.
    "async": Limits(body_bytes=1024 * MB, timeout_seconds=3600),
    "batch": Limits(body_bytes=100 * MB, timeout_seconds=3600),
}

# Without a mode's Environment (docker run, batch, a model made by hand): bodies up to batch
# transform's 100 MB, and the real-time timeout.
DEFAULT_BODY_MB = 100
DEFAULT_TIMEOUT_SECONDS = 60
MAX_BODY_MB = MODES["async"].body_mb
MAX_TIMEOUT_SECONDS = MODES["async"].timeout_seconds
