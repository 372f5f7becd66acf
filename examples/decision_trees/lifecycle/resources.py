"""What a lifecycle run creates and how it goes: waiting for a resource, the record of what
exists (Resources), and deleting it in the order SageMaker requires."""

import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from lifecycle.backends import Backend
from lifecycle.project import (
    StepFailed,
    say,
)

TERMINAL_OK = {"Completed", "InService"}
TERMINAL_BAD = {"Failed", "Stopped", "OutOfService", "UpdateRollbackFailed"}
IC_DELETION_SECONDS = 1800  # its copies drain first; past this, something is wrong: say so and go on


def wait_for(what: str, describe, status_key: str, poll_seconds: int, progress=None) -> dict:
    """Polls a describe_* call until the resource is ready; local mode is ready at once.
    progress(description), if given, says more than the status (a tuning job's counts of jobs)."""
    last = None
    while True:
        description = describe()
        status = description[status_key]
        if status in TERMINAL_OK:
            return description
        if status in TERMINAL_BAD:
            reason = description.get("FailureReason") or "no reason given"
            raise StepFailed(f"{what} ended {status}: {reason}")
        news = status if progress is None else f"{status}, {progress(description)}"
        if news != last:
            say(f"    {what}: {news}")
            last = news
        time.sleep(poll_seconds)


@dataclass
class Resources:
    """What was created, so cleanup deletes exactly that, in reverse order of need."""

    scaling_policy: dict | None = None  # DeleteScalingPolicy's arguments
    scalable_target: dict | None = None  # DeregisterScalableTarget's arguments
    inference_component: str | None = None
    endpoint: str | None = None
    endpoint_config: str | None = None
    model: str | None = None  # the endpoint's
    batch_model: str | None = None  # batch transform's own
    running_jobs: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) to stop on failure


ENDPOINT_PARTS = ("scaling_policy", "scalable_target", "inference_component", "endpoint", "endpoint_config")


def _delete_inference_component(backend: Backend, component: str) -> None:
    """Deletes it and waits until it is gone: SageMaker refuses to delete an endpoint that has one."""
    backend.sagemaker.delete_inference_component(InferenceComponentName=component)
    deadline = time.monotonic() + IC_DELETION_SECONDS
    while True:
        try:
            status = backend.sagemaker.describe_inference_component(InferenceComponentName=component)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException":  # "Could not find"
                return
            raise
        if status.get("InferenceComponentStatus") == "Failed":
            raise StepFailed(f"inference component {component} failed to delete: {status.get('FailureReason')}")
        if time.monotonic() > deadline:
            raise StepFailed(f"inference component {component} still {status.get('InferenceComponentStatus')}")
        time.sleep(backend.poll_seconds)


DELETIONS = {  # Resources attribute, in the order they must go: (what, how to delete it)
    "scaling_policy": ("scaling policy", lambda backend, policy: backend.autoscaling.delete_scaling_policy(**policy)),
    "scalable_target": (
        "scalable target",
        lambda backend, target: backend.autoscaling.deregister_scalable_target(**target),
    ),
    "inference_component": ("inference component", _delete_inference_component),
    "endpoint": ("endpoint", lambda backend, name: backend.sagemaker.delete_endpoint(EndpointName=name)),
    "endpoint_config": (
        "endpoint config",
        lambda backend, name: backend.sagemaker.delete_endpoint_config(EndpointConfigName=name),
    ),
    "model": ("model", lambda backend, name: backend.sagemaker.delete_model(ModelName=name)),
    "batch_model": ("model", lambda backend, name: backend.sagemaker.delete_model(ModelName=name)),
}


def delete(backend: Backend, resources: Resources, *which: str) -> list[str]:
    """Deletes the named resources that exist, each on its own; returns what failed."""
    problems = []
    for attribute in which:
        value = getattr(resources, attribute)
        if value is None:
            continue
        what, call = DELETIONS[attribute]
        label = value.get("ResourceId") if isinstance(value, dict) else value
        say(f"    delete {what} {label}")
        try:
            call(backend, value)
            setattr(resources, attribute, None)
        except Exception as exc:  # the others are still deleted; the failure is reported
            problems.append(f"delete {what} {label}: {exc}")
    return problems
