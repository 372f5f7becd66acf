"""sagemaker_lifecycle.py in every hosting mode, its SageMaker path run for real against a moto server.

The script runs in this process (as test_lifecycle.py's moto test does), through a boto3 Session
that records each request twice: its parameters as the script passed them (provide-client-params),
and its operation name at botocore's before-call event, which fires only after botocore has
validated the parameters against the service model and serialized them; what moto then answers
is its own. moto runs no container: answers come from its configurable result queues, and the
files a training or transform job would write are put where SageMaker puts them.

Where moto 5.2.5 stops short (an endpoint config without ModelName, CreateInferenceComponent,
the inference-component scalable dimension), the tests check that the request passed botocore's
validation and reached the server, by moto's own refusal, and say so.
"""

import copy
import io
import os
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.session
import pytest
import requests
from aws_fakes import ACCOUNT, REGION, aws_env, client, moto_server
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from test_lifecycle import SCRIPT, load_lifecycle, printed_section, run_lifecycle

pytestmark = pytest.mark.deep  # the lifecycle script's deploy calls against moto (make test-all)

ALGORITHM = "decision_trees"
# Passed with --hosting-instance-type: moto 5.2.5 refuses instance types newer than its list
# (ml.c7g.large, say) that SageMaker takes. test_lifecycle.py checks the project's default.
HOSTING_INSTANCE_TYPE = "ml.m5.large"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{ALGORITHM}:0123abcd"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-execution"
BUCKET = "hosting-modes"
ANSWER = "setosa\nvirginica"


@dataclass
class Moto:
    """A moto server, and what the script sent it."""

    url: str
    log: Path
    name: str
    log_start: int = 0  # the server is the module's: this test's part of its log starts here
    sent: dict[str, list[dict]] = field(default_factory=dict)  # operation: its parameters, per call
    validated: list[str] = field(default_factory=list)  # operations botocore validated and sent, in order

    def run(self, lifecycle, capsys, *args: str) -> tuple[int, str, str]:
        status = lifecycle.main([*command_args(self.name), *args])
        printed = capsys.readouterr()
        return status, printed.out, printed.err

    def key(self, relative: str) -> str:
        return f"{ALGORITHM}/{self.name}/{relative}"

    def uri(self, relative: str) -> str:
        return f"s3://{BUCKET}/{self.key(relative)}"

    def operations(self, *prefixes: str) -> list[str]:
        """The validated operations whose names start with one of prefixes, in the order sent."""
        return [op for op in self.validated if op.startswith(prefixes)]

    def logged(self, text: str) -> bool:
        """Whether moto's log says text; it writes a traceback after the answer, so give it a moment."""
        deadline = time.monotonic() + 10
        while text not in self.log.read_text(errors="replace")[self.log_start :]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def one(self, operation: str) -> dict:
        [params] = self.sent[operation]
        return params

    def queue(self, kind: str, results: list[dict]) -> None:
        """moto's answer queue for InvokeEndpoint (kind endpoint-results) or InvokeEndpointAsync."""
        response = requests.post(f"{self.url}/moto-api/static/sagemaker/{kind}", json={"results": results}, timeout=10)
        response.raise_for_status()


@pytest.fixture
def lifecycle():
    return load_lifecycle()


@pytest.fixture(scope="module")
def moto_server_of_module(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """One moto server for the module (starting one takes a second or two), reset for each test."""
    root = tmp_path_factory.mktemp("moto")
    with moto_server(root) as url:
        yield url, root / "moto.log"


@pytest.fixture
def moto(moto_server_of_module, monkeypatch, lifecycle) -> Moto:
    """The moto server, emptied, with the run's bucket, the trained artifact and the batch output in place."""
    url, log = moto_server_of_module
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()  # all state, and the answer queues
    name = f"modes-{uuid.uuid4().hex[:8]}"
    recorder = Moto(url=url, log=log, name=name, log_start=len(log.read_text(errors="replace")))

    class RecordingSession(boto3.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.events.register("provide-client-params", self.record)
            self.events.register("before-call", self.validated)

        @staticmethod
        def record(params, model, **_):
            # S3 uploads stream an open file: keep a Body only if it is data.
            kept = {k: v for k, v in params.items() if k != "Body" or isinstance(v, bytes | str)}
            recorder.sent.setdefault(model.name, []).append(copy.deepcopy(kept))

        @staticmethod
        def validated(model, **_):
            recorder.validated.append(model.name)

    for key in [k for k in os.environ if k.startswith(("AWS_", "SAGEMAKER_"))]:
        monkeypatch.delenv(key)
    for key, value in aws_env(url).items():
        monkeypatch.setenv(key, value)
    # moto answers an operation it lacks with a 500, which botocore would retry for seconds.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setattr(lifecycle.boto3, "Session", RecordingSession)
    s3 = client("s3", url)  # the test's own: not recorded
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=recorder.key(artifact_key(name)), Body=model_tar())
    s3.put_object(Bucket=BUCKET, Key=recorder.key("transform/payload.csv.out"), Body=ANSWER.encode() + b"\n")
    return recorder


def command_args(name: str) -> list[str]:
    return ["--image", IMAGE, "--role-arn", ROLE, "--bucket", BUCKET, "--name", name, "--poll-seconds", "1"] + [
        "--hosting-instance-type",
        HOSTING_INSTANCE_TYPE,
    ]


def artifact_key(name: str) -> str:
    """Where a training job puts its model: <S3OutputPath><job name>/output/model.tar.gz."""
    return f"model/{name}/output/model.tar.gz"


def model_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"a stand-in model"
        info = tarfile.TarInfo("model.joblib")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def hosting_table():
    load_lifecycle()
    from lifecycle.project import hosting

    return hosting()


def check_common(moto: Moto, mode: str) -> tuple[dict, dict]:
    """What every mode shares: validated requests, the Environments, the batch model, and nothing left."""
    assert set(moto.sent) <= set(moto.validated), "a request botocore did not validate"
    table = hosting_table()
    endpoint_model, batch_model = moto.sent["CreateModel"]
    assert endpoint_model["ModelName"] == moto.name and endpoint_model["ExecutionRoleArn"] == ROLE
    assert endpoint_model["PrimaryContainer"]["Environment"] == table.MODES[mode].environment()
    assert endpoint_model["PrimaryContainer"]["Image"] == IMAGE
    # Batch transform runs its own single-model model, with batch's limits.
    assert batch_model["PrimaryContainer"] == {
        "Image": IMAGE,
        "ModelDataUrl": moto.uri(artifact_key(moto.name)),
        "Environment": table.MODES["batch"].environment(),
    }
    assert moto.one("CreateTransformJob")["ModelName"] == batch_model["ModelName"]
    check_nothing_left(moto)
    [config] = moto.sent["CreateEndpointConfig"]
    [variant] = config["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    return config, variant


def check_nothing_left(moto: Moto) -> None:
    sagemaker = client("sagemaker", moto.url)
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    autoscaling = client("application-autoscaling", moto.url)
    assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []


def run_and_predict(moto, lifecycle, capsys, *args: str) -> None:
    """The script's whole run with these arguments, the endpoint answering ANSWER once."""
    moto.queue("endpoint-results", [{"Body": ANSWER, "ContentType": "text/csv"}])
    status, out, err = moto.run(lifecycle, capsys, *args)
    assert status == 0, out + err
    assert printed_section(out, "predictions:") == ANSWER.split("\n")


def test_realtime_variant_timeouts_and_environment(moto, lifecycle, capsys):
    run_and_predict(moto, lifecycle, capsys, "--startup-health-timeout", "900", "--model-download-timeout", "1200")
    config, variant = check_common(moto, "realtime")
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": moto.name,
        "InstanceType": HOSTING_INSTANCE_TYPE,
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": 900,
        "ModelDataDownloadTimeoutInSeconds": 1200,
    }
    assert set(config) == {"EndpointConfigName", "ProductionVariants"}
    assert "Mode" not in moto.sent["CreateModel"][0]["PrimaryContainer"]
    assert moto.operations("Create", "Delete", "Invoke") == [
        "CreateTrainingJob",
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "InvokeEndpoint",
        "DeleteEndpoint",
        "DeleteEndpointConfig",
        "CreateModel",
        "CreateTransformJob",
        "DeleteModel",
        "DeleteModel",
    ]


def test_realtime_default_timeouts(moto, lifecycle, capsys):
    status, out, err = moto.run(lifecycle, capsys)
    assert status == 0, out + err
    _, variant = check_common(moto, "realtime")
    from lifecycle.endpoints import MODEL_DOWNLOAD_TIMEOUT_SECONDS, STARTUP_HEALTH_TIMEOUT_SECONDS

    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == STARTUP_HEALTH_TIMEOUT_SECONDS
    assert variant["ModelDataDownloadTimeoutInSeconds"] == MODEL_DOWNLOAD_TIMEOUT_SECONDS


def test_serverless_variant_has_memory_and_concurrency_and_no_instances(moto, lifecycle, capsys):
    sizes = ["--serverless-memory", "3072", "--serverless-concurrency", "7"]
    run_and_predict(moto, lifecycle, capsys, "--hosting", "serverless", *sizes)
    _, variant = check_common(moto, "serverless")
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": moto.name,
        "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 7},
    }
    # One worker: the serverless Environment says so (contract/hosting.py).
    assert moto.sent["CreateModel"][0]["PrimaryContainer"]["Environment"]["SAGEMAKER_MODEL_SERVER_WORKERS"] == "1"


def test_async_goes_through_s3_with_the_async_timeout(moto, lifecycle, capsys):
    """moto's InvokeEndpointAsync writes the queued answer to a bucket of its own and returns that
    OutputLocation (it ignores the endpoint's S3OutputPath): the script polls it as on SageMaker."""
    moto.queue("async-endpoint-results", [{"data": ANSWER}])
    status, out, err = moto.run(lifecycle, capsys, "--hosting", "async", "--async-concurrency", "8")
    assert status == 0, out + err
    assert printed_section(out, "predictions:") == ANSWER.split("\n")
    config, variant = check_common(moto, "async")
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": moto.uri("async/output/"), "S3FailurePath": moto.uri("async/failure/")},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 8},
    }
    assert variant["InstanceType"] == HOSTING_INSTANCE_TYPE and variant["InitialInstanceCount"] == 1
    invocation = moto.one("InvokeEndpointAsync")
    assert invocation == {
        "EndpointName": moto.name,
        "InputLocation": moto.uri("async/input/payload.csv"),
        "ContentType": "text/csv",
        "Accept": "text/csv",
        "InvocationTimeoutSeconds": hosting_table().MODES["async"].timeout_seconds,
    }
    payload = client("s3", moto.url).get_object(Bucket=BUCKET, Key=moto.key("async/input/payload.csv"))
    from lifecycle.project import PAYLOAD

    assert payload["Body"].read() == PAYLOAD.read_bytes()
    assert "InvokeEndpoint" not in moto.sent


def test_async_failure_is_reported_and_everything_is_cleaned_up(moto, lifecycle, capsys):
    moto.queue("async-endpoint-results", [{"is_failure": True, "data": "the model refused the payload"}])
    status, out, err = moto.run(lifecycle, capsys, "--hosting", "async")
    assert status == 1, out + err
    assert "error: the async endpoint failed" in err and "the model refused the payload" in err
    assert "CreateTransformJob" not in moto.sent
    assert moto.operations("Delete") == ["DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"]
    check_nothing_left(moto)


def test_multimodel_serves_copies_of_the_model_under_one_prefix(moto, lifecycle, capsys):
    answers = [{"Body": f"model {letter}", "ContentType": "text/csv"} for letter in "ab"]
    moto.queue("endpoint-results", answers)
    status, out, err = moto.run(lifecycle, capsys, "--hosting", "multimodel")
    assert status == 0, out + err
    _, variant = check_common(moto, "multimodel")
    container = moto.sent["CreateModel"][0]["PrimaryContainer"]
    assert container["Mode"] == "MultiModel" and container["ModelDataUrl"] == moto.uri("models/")
    targets = [f"{ALGORITHM}-a.tar.gz", f"{ALGORITHM}-b.tar.gz"]
    assert [call["TargetModel"] for call in moto.sent["InvokeEndpoint"]] == targets
    for target, answer in zip(targets, answers, strict=True):
        assert printed_section(out, f"predictions of {target}:") == [answer["Body"]]
    s3 = client("s3", moto.url)
    trained = s3.get_object(Bucket=BUCKET, Key=moto.key(artifact_key(moto.name)))["Body"].read()
    for target in targets:  # byte for byte the trained artifact
        assert s3.get_object(Bucket=BUCKET, Key=moto.key(f"models/{target}"))["Body"].read() == trained
    assert "ContainerStartupHealthCheckTimeoutInSeconds" not in variant
    assert variant["InstanceType"] == HOSTING_INSTANCE_TYPE


@pytest.mark.parametrize("mode", ["realtime", "async", "multimodel"])
def test_autoscaling_of_the_variant_is_registered_and_removed_before_the_endpoint(mode, moto, lifecycle, capsys):
    moto.queue("async-endpoint-results", [{"data": ANSWER}])
    status, out, err = moto.run(lifecycle, capsys, "--hosting", mode, "--autoscale", "1:3:70")
    assert status == 0, out + err
    check_common(moto, mode)  # including: no scalable target or policy left
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{moto.name}/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    assert moto.one("RegisterScalableTarget") == {**target, "MinCapacity": 1, "MaxCapacity": 3}
    policy = moto.one("PutScalingPolicy")
    assert policy == {
        **target,
        "PolicyName": f"{moto.name}-invocations",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    }
    assert moto.one("DeleteScalingPolicy") == {**target, "PolicyName": policy["PolicyName"]}
    assert moto.one("DeregisterScalableTarget") == target
    order = moto.operations("CreateEndpoint", "Register", "PutScaling", "Delete", "Deregister")
    assert order[:7] == [
        "CreateEndpointConfig",
        "CreateEndpoint",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "DeleteScalingPolicy",
        "DeregisterScalableTarget",
        "DeleteEndpoint",
    ]


def test_inference_component_endpoint_config_reaches_moto(moto, lifecycle, capsys):
    """The script in inference-component mode, as far as moto goes: moto 5.2.5 cannot store an
    endpoint config whose variant has no ModelName (a KeyError: its 500), which an endpoint for
    inference components must be. The request passed botocore's validation, reached moto, and
    the script reported the failure and deleted the model it had made."""
    status, out, err = moto.run(lifecycle, capsys, "--hosting", "inference-component", "--hosting-instance-count", "2")
    assert status == 1, out + err
    assert "CreateEndpointConfig operation" in err and "500" in err
    config = moto.one("CreateEndpointConfig")
    assert "CreateEndpointConfig" in moto.validated
    assert config == {
        "EndpointConfigName": moto.name,
        "ExecutionRoleArn": ROLE,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "InstanceType": HOSTING_INSTANCE_TYPE, "InitialInstanceCount": 2}
        ],
    }
    assert moto.logged("KeyError: 'ModelName'")
    model = moto.one("CreateModel")
    assert model["PrimaryContainer"]["Environment"] == hosting_table().MODES["inference-component"].environment()
    assert moto.operations("Delete") == ["DeleteModel"]
    check_nothing_left(moto)


def test_inference_component_calls_pass_botocore_and_reach_moto(moto, lifecycle):
    """The steps after the endpoint, run through the script's own functions on a SageMaker backend
    over moto (the script itself cannot get there on moto, see the test above). moto 5.2.5 has no
    CreateInferenceComponent nor DeleteInferenceComponent (its 500: "not been implemented"), and
    its Application Auto Scaling predates the inference-component dimension (a ValidationException
    on scalableDimension): each request passed botocore's validation and reached the server."""
    from lifecycle.backends import aws_backend
    from lifecycle.endpoints import SCALING, Autoscale, Deployment, Hosting, autoscale
    from lifecycle.endpoints import create_inference_component as create_component
    from lifecycle.endpoints import invoke as invoke_endpoint
    from lifecycle.resources import Resources
    from lifecycle.steps import cleanup

    args = lifecycle.parse_args(command_args(moto.name))
    backend = aws_backend(args, moto.name)
    hosting = Hosting(mode="inference-component", ic_cpus=0.5, ic_memory_mb=512, ic_copies=2)
    resources = Resources()

    with pytest.raises(ClientError, match="CreateInferenceComponent") as created:
        create_component(backend, moto.name, resources, hosting)
    assert created.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    component = f"{moto.name}-ic"
    assert moto.one("CreateInferenceComponent") == {
        "InferenceComponentName": component,
        "EndpointName": moto.name,
        "VariantName": "AllTraffic",
        "Specification": {
            "ModelName": moto.name,
            "ComputeResourceRequirements": {"NumberOfCpuCoresRequired": 0.5, "MinMemoryRequiredInMb": 512},
            "StartupParameters": {
                "ContainerStartupHealthCheckTimeoutInSeconds": hosting.startup_health_timeout,
                "ModelDataDownloadTimeoutInSeconds": hosting.model_download_timeout,
            },
        },
        "RuntimeConfig": {"CopyCount": 2},
    }
    assert resources.inference_component == component  # recorded before the call: cleanup tries it

    deployment = Deployment(endpoint=moto.name, hosting=hosting, inference_component=component)
    with pytest.raises(ClientError, match="scalableDimension"):
        autoscale(backend, deployment, Autoscale(1, 4, 5.0), resources)
    assert moto.one("RegisterScalableTarget") == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"inference-component/{component}",
        "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
        "MinCapacity": 1,
        "MaxCapacity": 4,
    }
    assert resources.scalable_target is None  # refused: nothing to deregister
    assert SCALING["inference-component"][1] == "SageMakerInferenceComponentInvocationsPerCopy"

    moto.queue("endpoint-results", [{"Body": ANSWER, "ContentType": "text/csv"}])
    assert invoke_endpoint(backend, moto.name, {"InferenceComponentName": component}) == ANSWER
    assert moto.one("InvokeEndpoint")["InferenceComponentName"] == component

    problems = cleanup(backend, resources)
    assert moto.one("DeleteInferenceComponent") == {"InferenceComponentName": component}
    assert [p for p in problems if p.startswith(f"delete inference component {component}")], problems
    for action in ("create_inference_component", "delete_inference_component"):
        assert moto.logged(f"The {action} action has not been implemented"), action
    assert {"CreateInferenceComponent", "RegisterScalableTarget", "DeleteInferenceComponent"} <= set(moto.validated)


def test_inference_component_endpoint_config_with_autoscaling_manages_instances(lifecycle):
    """ManagedInstanceScaling follows --autoscale (checked against botocore's model: moto never stores it)."""
    from lifecycle.backends import Backend
    from lifecycle.endpoints import Autoscale, Hosting, endpoint_config

    backend = Backend(None, None, None, ROLE, "ml.m5.large", HOSTING_INSTANCE_TYPE, 1)
    hosting = Hosting(mode="inference-component", instance_count=1, autoscale=Autoscale(1, 6, 10.0))
    request = endpoint_config(backend, "ic-endpoint", hosting)
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateEndpointConfig")
    validate_parameters(request, shape.input_shape)  # raises ParamValidationError if botocore would refuse it
    [variant] = request["ProductionVariants"]
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 6}
    assert "ModelName" not in variant


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hosting", "serverless", "--serverless-memory", "1500"], "--serverless-memory must be one of"),
        (["--hosting", "serverless", "--serverless-concurrency", "201"], "--serverless-concurrency must be 1 to 200"),
        (["--hosting", "serverless", "--autoscale", "1:2:50"], "--autoscale does not apply to serverless"),
        (["--autoscale", "1:2"], "--autoscale takes MIN:MAX:TARGET"),
        (["--autoscale", "3:2:50"], "1 <= MIN <= MAX"),
        (["--startup-health-timeout", "30"], "--startup-health-timeout must be 60 to 3600"),
        (["--model-download-timeout", "4000"], "--model-download-timeout must be 60 to 3600"),
        (["--async-concurrency", "0"], "--async-concurrency must be 1 to 1000"),
        (["--hosting", "batch"], "invalid choice"),
        (["--local", "--hosting", "multimodel"], "SDK local mode runs realtime, serverless, async only"),
        (["--local", "--hosting", "inference-component"], "SDK local mode runs realtime, serverless, async only"),
        (["--local", "--autoscale", "1:2:50"], "--autoscale needs SageMaker"),
    ],
)
def test_bad_hosting_options_are_refused_before_any_request(args, message, lifecycle, capsys):
    assert message in refusal(lifecycle, capsys, args)


def refusal(lifecycle, capsys, args: list[str]) -> str:
    """What the script's argument parsing prints as it refuses args (exit 2, before any request is made)."""
    with pytest.raises(SystemExit) as exit_:
        lifecycle.parse_args(["--image", IMAGE, "--role-arn", ROLE, "--bucket", BUCKET, *args])
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_bad_mode_option_as_a_command(tmp_path):
    env = aws_env("http://127.0.0.1:9")  # nothing listens there: no request may be sent
    args = ["--image", IMAGE, "--role-arn", ROLE, "--bucket", BUCKET, "--hosting", "serverless"]
    result = run_lifecycle(*args, "--serverless-memory", "1500", env=env, timeout=60)
    assert result.returncode == 2 and "--serverless-memory must be one of 1024" in result.stderr
    help_text = run_lifecycle("--help", env=env, timeout=60).stdout
    for mode in ("realtime", "serverless", "async", "multimodel", "inference-component"):
        assert any(line.strip().startswith(mode + " ") for line in help_text.splitlines()), mode


@pytest.mark.parametrize("mode", ["realtime", "serverless", "async", "multimodel", "inference-component"])
def test_every_mode_as_a_command_on_the_deploy_python(mode, moto):
    """The script as users run it, by the interpreter in DEPLOY_PYTHON (e.g. a Python 3.10 venv with
    only requirements-deploy.txt); this one's by default. inference-component stops where moto does."""
    python = os.environ.get("DEPLOY_PYTHON") or sys.executable
    moto.queue("endpoint-results", [{"Body": ANSWER, "ContentType": "text/csv"}] * 2)
    moto.queue("async-endpoint-results", [{"data": ANSWER}])
    result = subprocess.run(
        [python, str(SCRIPT), *command_args(moto.name), "--hosting", mode],
        env=aws_env(moto.url, AWS_MAX_ATTEMPTS="1"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    if mode == "inference-component":
        assert result.returncode == 1 and "CreateEndpointConfig operation" in result.stderr, output
    else:
        assert result.returncode == 0, output
        assert "batch output" in result.stdout, output
    check_nothing_left(moto)
