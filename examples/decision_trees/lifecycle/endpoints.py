"""Hosting: one endpoint per run, in one of SageMaker's hosting modes (MODES), with the mode's
Environment from contract/hosting.py; deploy, autoscale and predict."""

import json
import time
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from lifecycle.backends import Backend
from lifecycle.project import (
    ALGORITHM,
    CSV,
    PAYLOAD,
    PROJECT,
    StepFailed,
    derived_name,
    say,
    step,
)
from lifecycle.project import hosting as program_hosting
from lifecycle.resources import Resources, wait_for

MODES = ("realtime", "serverless", "async", "multimodel", "inference-component")
VARIANT = "AllTraffic"
# The container loads its model at start and answers /ping within seconds; 5 minutes leaves
# room for a big model, and a broken image fails the deploy then, not after SageMaker's longer
# default. The artifact is one tar.gz of a tree model: 10 minutes covers one of several GB.
STARTUP_HEALTH_TIMEOUT_SECONDS = 300
MODEL_DOWNLOAD_TIMEOUT_SECONDS = 600
TIMEOUT_RANGE = range(60, 3601)  # both timeouts' range in the API (ProductionVariant and IC StartupParameters)
SERVERLESS_MEMORY_MB = range(1024, 6145, 1024)  # ProductionVariantServerlessConfig: 1 GB steps up to 6 GB
SERVERLESS_CONCURRENCY = range(1, 201)
ASYNC_CONCURRENCY = range(1, 1001)  # MaxConcurrentInvocationsPerInstance
MULTIMODEL_TARGETS = ("a", "b")  # the trained model.tar.gz twice under the prefix: two models on one endpoint
MODEL_LOADING_SECONDS = 360  # MME loads a model for up to 360 s; a cold serverless endpoint answers 429 meanwhile
SCALING = {  # autoscaling target kind: (ScalableDimension, PredefinedMetricType)
    "variant": ("sagemaker:variant:DesiredInstanceCount", "SageMakerVariantInvocationsPerInstance"),
    "inference-component": (
        "sagemaker:inference-component:DesiredCopyCount",
        "SageMakerInferenceComponentInvocationsPerCopy",
    ),
}


@dataclass(frozen=True)
class Autoscale:
    minimum: int
    maximum: int
    target: float  # invocations per minute per instance (per copy for an inference component)


@dataclass(frozen=True)
class Hosting:
    """How the endpoint is hosted: the mode and its settings (the command line's --hosting options)."""

    mode: str = "realtime"
    instance_count: int = 1
    startup_health_timeout: int = STARTUP_HEALTH_TIMEOUT_SECONDS
    model_download_timeout: int = MODEL_DOWNLOAD_TIMEOUT_SECONDS
    serverless_memory_mb: int = 2048
    serverless_concurrency: int = 5  # a few concurrent requests; the account's quota is shared by all
    async_concurrency: int = 4  # per instance: a small multiple of the workers, so none waits idle
    async_wait_seconds: int | None = None  # None: the async mode's timeout plus 5 minutes in the queue
    ic_cpus: float = 1.0
    ic_memory_mb: int = 1024
    ic_copies: int = 1
    autoscale: Autoscale | None = None

    def problems(self) -> list[str]:
        """What SageMaker would refuse in these settings, said before anything is created."""
        found = []
        if self.mode not in MODES:
            found.append(f"--hosting must be one of {', '.join(MODES)}")
        if self.serverless_memory_mb not in SERVERLESS_MEMORY_MB:
            found.append(f"--serverless-memory must be one of {', '.join(map(str, SERVERLESS_MEMORY_MB))} (MB)")
        if self.serverless_concurrency not in SERVERLESS_CONCURRENCY:
            found.append("--serverless-concurrency must be 1 to 200")
        if self.async_concurrency not in ASYNC_CONCURRENCY:
            found.append("--async-concurrency must be 1 to 1000")
        for flag, seconds in (
            ("--startup-health-timeout", self.startup_health_timeout),
            ("--model-download-timeout", self.model_download_timeout),
        ):
            if seconds not in TIMEOUT_RANGE:
                found.append(f"{flag} must be 60 to 3600 seconds")
        if self.instance_count < 1:
            found.append("--hosting-instance-count must be at least 1")
        if self.ic_cpus < 0.25 or self.ic_memory_mb < 128 or self.ic_copies < 1:
            found.append("an inference component needs --ic-cpus >= 0.25, --ic-memory >= 128 (MB), --ic-copies >= 1")
        if self.autoscale is not None:
            if self.mode == "serverless":
                found.append("--autoscale does not apply to serverless: SageMaker scales it (see --serverless-*)")
            scale = self.autoscale
            if not (1 <= scale.minimum <= scale.maximum) or scale.target <= 0:
                found.append("--autoscale MIN:MAX:TARGET needs 1 <= MIN <= MAX and TARGET > 0")
        return found


@dataclass
class Deployment:
    """What predict needs to reach the endpoint."""

    endpoint: str
    hosting: Hosting
    target_models: list[str] = field(default_factory=list)  # multimodel: TargetModel of each model
    inference_component: str | None = None


def model_container(backend: Backend, image: str, artifact: str, hosting: Hosting) -> dict:
    """The model's PrimaryContainer: the mode's limits as its Environment (contract/hosting.py)."""
    environment = program_hosting().MODES[hosting.mode].environment()
    if hosting.mode != "multimodel":
        return {"Image": image, "ModelDataUrl": artifact, "Environment": environment}
    # A multi-model endpoint serves every .tar.gz under one S3 prefix, loaded on its first invoke.
    for target in MULTIMODEL_TARGETS:
        say(f"    {artifact} -> {backend.storage.copy(artifact, f'models/{ALGORITHM}-{target}.tar.gz')}")
    return {
        "Image": image,
        "Mode": "MultiModel",
        "ModelDataUrl": backend.storage.folder_uri("models"),
        "Environment": environment,
    }


def endpoint_config(backend: Backend, name: str, hosting: Hosting) -> dict:
    """CreateEndpointConfig's arguments for the mode: one variant, AllTraffic.

    Local mode hosts one container behind /invocations, whatever the mode: the container still gets
    the mode's Environment (model_container), and the local front (lifecycle/front.py) plays
    SageMaker's part of serverless (its 4 MB limit) and async (InvokeEndpointAsync, answers in files)."""
    variant: dict = {"VariantName": VARIANT}
    if backend.local is not None:
        variant.update(ModelName=name, InstanceType="local", InitialInstanceCount=1, InitialVariantWeight=1.0)
        return dict(EndpointConfigName=name, ProductionVariants=[variant])
    if hosting.mode == "serverless":  # no instances: memory and concurrency instead
        return dict(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    **variant,
                    "ModelName": name,
                    "ServerlessConfig": {
                        "MemorySizeInMB": hosting.serverless_memory_mb,
                        "MaxConcurrency": hosting.serverless_concurrency,
                    },
                }
            ],
        )
    variant.update(InstanceType=backend.hosting_instance_type, InitialInstanceCount=hosting.instance_count)
    if hosting.mode == "inference-component":
        # The variant holds instances only; the model comes with the inference component, and
        # SageMaker needs a role of the endpoint's own to place it.
        if hosting.autoscale is not None:  # instances follow the copies autoscaling asks for
            variant["ManagedInstanceScaling"] = {
                "Status": "ENABLED",
                "MinInstanceCount": hosting.instance_count,
                "MaxInstanceCount": max(hosting.instance_count, hosting.autoscale.maximum),
            }
        return dict(EndpointConfigName=name, ExecutionRoleArn=backend.role_arn, ProductionVariants=[variant])
    variant.update(ModelName=name, InitialVariantWeight=1.0)
    if hosting.mode in ("realtime", "async"):
        # One model per container, loaded at start. Not sent for multimodel: its models load
        # after start, on their first invoke.
        variant.update(
            ContainerStartupHealthCheckTimeoutInSeconds=hosting.startup_health_timeout,
            ModelDataDownloadTimeoutInSeconds=hosting.model_download_timeout,
        )
    request: dict = dict(EndpointConfigName=name, ProductionVariants=[variant])
    if hosting.mode == "async":
        request["AsyncInferenceConfig"] = {
            "OutputConfig": {
                "S3OutputPath": backend.storage.folder_uri("async/output"),
                "S3FailurePath": backend.storage.folder_uri("async/failure"),
            },
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": hosting.async_concurrency},
        }
    return request


def inference_component_request(backend: Backend, name: str, component: str, hosting: Hosting) -> dict:
    """CreateInferenceComponent's arguments: the model, what one copy needs, and how many copies."""
    return dict(
        InferenceComponentName=component,
        EndpointName=name,
        VariantName=VARIANT,
        Specification={
            "ModelName": name,
            "ComputeResourceRequirements": {
                "NumberOfCpuCoresRequired": hosting.ic_cpus,
                "MinMemoryRequiredInMb": hosting.ic_memory_mb,
            },
            "StartupParameters": {
                "ContainerStartupHealthCheckTimeoutInSeconds": hosting.startup_health_timeout,
                "ModelDataDownloadTimeoutInSeconds": hosting.model_download_timeout,
            },
        },
        RuntimeConfig={"CopyCount": hosting.ic_copies},
    )


def deploy(
    backend: Backend, name: str, image: str, artifact: str, resources: Resources, hosting: Hosting | None = None
) -> Deployment:
    hosting = hosting or Hosting()
    deployment = Deployment(endpoint=name, hosting=hosting)
    step(f"model {name} ({hosting.mode})")
    container = model_container(backend, image, artifact, hosting)
    say(f"    Environment {json.dumps(container['Environment'])}")
    backend.sagemaker.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=backend.role_arn)
    resources.model = name
    if hosting.mode == "multimodel":
        deployment.target_models = [f"{ALGORITHM}-{target}.tar.gz" for target in MULTIMODEL_TARGETS]

    request = endpoint_config(backend, name, hosting)
    [variant] = request["ProductionVariants"]
    size = variant.get("ServerlessConfig") or f"{variant['InitialInstanceCount']} x {variant['InstanceType']}"
    step(f"endpoint config {name}: {hosting.mode}, {size}")
    backend.sagemaker.create_endpoint_config(**request)
    resources.endpoint_config = name

    step(f"endpoint {name} (on SageMaker this takes several minutes)")
    resources.endpoint = name
    backend.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_for(
        f"endpoint {name}",
        lambda: backend.sagemaker.describe_endpoint(EndpointName=name),
        "EndpointStatus",
        backend.poll_seconds,
    )
    say(f"    endpoint {name} is InService")

    if hosting.mode == "inference-component":
        deployment.inference_component = create_inference_component(backend, name, resources, hosting)
    if hosting.autoscale is not None:
        autoscale(backend, deployment, hosting.autoscale, resources)
    return deployment


def create_inference_component(backend: Backend, name: str, resources: Resources, hosting: Hosting) -> str:
    component = derived_name(name, "ic")
    request = inference_component_request(backend, name, component, hosting)
    spec = request["Specification"]["ComputeResourceRequirements"]
    step(
        f"inference component {component}: {hosting.ic_copies} x ({spec['NumberOfCpuCoresRequired']:g} CPU, "
        f"{spec['MinMemoryRequiredInMb']} MB) of model {name}"
    )
    resources.inference_component = component
    backend.sagemaker.create_inference_component(**request)
    wait_for(
        f"inference component {component}",
        lambda: backend.sagemaker.describe_inference_component(InferenceComponentName=component),
        "InferenceComponentStatus",
        backend.poll_seconds,
    )
    say(f"    inference component {component} is InService")
    return component


def autoscale(backend: Backend, deployment: Deployment, scale: Autoscale, resources: Resources) -> None:
    """Target tracking on invocations: of the variant's instances, or of the component's copies."""
    if deployment.inference_component is not None:
        resource_id = f"inference-component/{deployment.inference_component}"
        dimension, metric = SCALING["inference-component"]
    else:
        resource_id = f"endpoint/{deployment.endpoint}/variant/{VARIANT}"
        dimension, metric = SCALING["variant"]
    step(f"autoscaling {resource_id}: {scale.minimum} to {scale.maximum}, {scale.target:g} {metric}")
    target = dict(ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=dimension)
    backend.autoscaling.register_scalable_target(**target, MinCapacity=scale.minimum, MaxCapacity=scale.maximum)
    resources.scalable_target = target
    policy = dict(target, PolicyName=derived_name(deployment.endpoint, "invocations"))
    backend.autoscaling.put_scaling_policy(
        **policy,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": scale.target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
        },
    )
    resources.scaling_policy = policy


def predict(backend: Backend, deployment: Deployment) -> str:
    """Sends local_test/payload.csv as the mode wants it; prints and returns the (last) answer."""
    name = deployment.endpoint
    if deployment.hosting.mode == "async":
        return predict_async(backend, name, deployment.hosting)
    step(f"predict: {PAYLOAD.relative_to(PROJECT)} -> endpoint {name}")
    routes: list[tuple[str, dict]] = [("predictions:", {})]
    if deployment.target_models:
        routes = [(f"predictions of {target}:", {"TargetModel": target}) for target in deployment.target_models]
    elif deployment.inference_component:
        routes = [("predictions:", {"InferenceComponentName": deployment.inference_component})]
    body = ""
    for heading, route in routes:
        body = invoke(backend, name, route)
        # One write for the whole block: local mode's container logs share this stdout.
        say("\n".join([heading] + [f"    {line}" for line in body.splitlines()]))
    return body


def invoke(backend: Backend, name: str, route: dict) -> str:
    """InvokeEndpoint, waiting out ModelNotReadyException: a multi-model endpoint loading the target
    model, or a serverless endpoint starting cold, answers 429 until the model is ready."""
    deadline = time.monotonic() + MODEL_LOADING_SECONDS
    while True:
        try:
            response = backend.runtime.invoke_endpoint(
                EndpointName=name, ContentType=CSV, Accept=CSV, Body=PAYLOAD.read_bytes(), **route
            )
            break
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ModelNotReadyException" or time.monotonic() > deadline:
                raise
            say(f"    model not ready yet: {exc.response['Error'].get('Message', '')}")
            time.sleep(backend.poll_seconds)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
    body = response["Body"].read().decode("utf-8")
    if status >= 400:  # SageMaker raises ModelError itself; the local client returns the answer as is
        raise StepFailed(f"the endpoint answered {status}: {body}")
    return body


def predict_async(backend: Backend, name: str, hosting: Hosting) -> str:
    """InvokeEndpointAsync: the payload goes to S3, the answer comes back there; poll for it."""
    timeout = program_hosting().MODES["async"].timeout_seconds
    wait = hosting.async_wait_seconds if hosting.async_wait_seconds is not None else timeout + 300
    step(f"predict (async): {PAYLOAD.relative_to(PROJECT)} -> S3 -> endpoint {name}")
    location = backend.storage.upload(PAYLOAD, f"async/input/{PAYLOAD.name}")
    say(f"    input {location}")
    response = backend.runtime.invoke_endpoint_async(
        EndpointName=name, InputLocation=location, ContentType=CSV, Accept=CSV, InvocationTimeoutSeconds=timeout
    )
    output, failure = response["OutputLocation"], response.get("FailureLocation")
    say(f"    inference {response.get('InferenceId')}: answer at {output}")
    deadline = time.monotonic() + wait
    while True:
        body = backend.storage.read_uri(output)
        if body is not None:
            break
        error = backend.storage.read_uri(failure) if failure else None
        if error is not None:
            raise StepFailed(f"the async endpoint failed, at {failure}: {error.decode('utf-8', 'replace')}")
        if time.monotonic() > deadline:
            raise StepFailed(
                f"no answer at {output} (nor at {failure}) after {wait} s: see the endpoint's log group "
                f"/aws/sagemaker/Endpoints/{name} in CloudWatch, or give --async-wait more seconds"
            )
        time.sleep(backend.poll_seconds)
    text = body.decode("utf-8")
    say("\n".join(["predictions:"] + [f"    {line}" for line in text.splitlines()]))
    return text
