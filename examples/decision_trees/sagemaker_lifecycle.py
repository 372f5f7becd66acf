"""The whole SageMaker lifecycle of this image, step by step, with the plain SageMaker API.

    python sagemaker_lifecycle.py --local
        SDK local mode: every step runs in Docker on this machine, no AWS account needed.
    python sagemaker_lifecycle.py --image URI --role-arn ARN --bucket BUCKET [--hosting MODE]
        On SageMaker (IMAGE_URI, ROLE_ARN and BUCKET may come from the environment instead):
        URI is the ECR image `./build_and_push.sh` printed; ARN a role SageMaker can assume
        with access to BUCKET; BUCKET an S3 bucket in the same region.

Hosting modes (--hosting; the model's Environment carries the mode's limits, contract/hosting.py):
    realtime             instances behind InvokeEndpoint (the default)
    serverless           no instances: --serverless-memory and --serverless-concurrency; smaller bodies, 1 worker
    async                InvokeEndpointAsync: the payload and the answer go through S3; long requests
    multimodel           Mode MultiModel: model.tar.gz twice under one S3 prefix, picked by TargetModel
    inference-component  the model as an inference component (--ic-*) on an endpoint of instances
    --autoscale MIN:MAX:TARGET adds target tracking on invocations (instances, or the component's copies).
--local runs realtime, serverless and async: one local container, with the mode's Environment,
behind a local front door (lifecycle/front.py) that enforces the mode's limits as SageMaker does.

Tuning (--tune; lifecycle/tuning.py): instead of one training job, a hyperparameter tuning job over
--tune-range NAME=LOW:HIGH[:log|linear|reverse-log] or NAME=a,b,c (typed and checked by
hyperparameters.json; by default its "tune" ranges), ranked by --objective, one of the
MetricDefinitions the training job sends (default validation:accuracy); the best job's model goes on
to the endpoint and the batch transform (--train-only stops after tuning). With --local, a local
tuning run: the jobs train one after another in local mode (Random or Grid), each ranked by the final
value its own log gives the objective's regex, as SageMaker ranks them; a table reports them all.
Spot (--spot, lifecycle/spot.py): managed spot training with --max-wait and checkpoints synced
between --checkpoint-local-path and the run's checkpoints/ folder in S3; tuning jobs too.

Steps: upload the sample data (local_test/test_dir/input/data), train (MetricDefinitions
from the program's contract/metrics.py), create the model, the endpoint config and the endpoint
(and the inference component, the autoscaling), send local_test/payload.csv to the endpoint and
print the predictions, delete the endpoint, run a batch transform of the same payload (with a
single-model model of its own) and print its output, and finally delete everything created,
also when a step failed.

One code path serves both places: SageMaker's boto3 clients on AWS, and in local mode
the SDK's LocalSession clients, which take the same calls (sagemaker-core's
`sagemaker.core.local`), with invocations through the local front's boto3 client. Only
storage differs: s3:// URIs on AWS, file:// in local mode.
Any failure exits with status 1.
"""

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

try:
    import boto3
except ImportError:
    sys.exit(
        "sagemaker_lifecycle.py needs boto3 (and sagemaker-core for --local): pip install -r requirements-deploy.txt"
    )

# The parts, by concern: lifecycle/project.py (this project), storage.py (S3 or a folder),
# backends.py (SageMaker or local mode), resources.py (what a run creates and deletes),
# steps.py (upload, train, batch, clean up), endpoints.py (the hosting modes), front.py.
from lifecycle.backends import Backend, aws_backend, check_image, local_backend  # noqa: E402 (after the boto3 check)
from lifecycle.endpoints import (  # noqa: E402
    MODEL_DOWNLOAD_TIMEOUT_SECONDS,
    MODES,
    STARTUP_HEALTH_TIMEOUT_SECONDS,
    Autoscale,
    Hosting,
    deploy,
    predict,
)
from lifecycle.project import (  # noqa: E402
    ALGORITHM,
    HOSTING_INSTANCE_TYPE,
    NAME,
    NAME_MAX,
    PROJECT,
    REGION,
    TEST_DIR,
    TRAINING_INSTANCE_TYPE,
    StepFailed,
    resource_name,
    sample_hyperparameters,
    say,
    step,
)
from lifecycle.resources import ENDPOINT_PARTS, Resources, delete  # noqa: E402
from lifecycle.spot import MAX_RUNTIME_SECONDS, Stopping  # noqa: E402
from lifecycle.steps import batch_transform, cleanup, train, training_request, upload_data  # noqa: E402
from lifecycle.tuning import (  # noqa: E402
    DEFAULT_MAX_JOBS,
    DEFAULT_OBJECTIVE,
    DEFAULT_PARALLEL_JOBS,
    STRATEGIES,
    Tuning,
    parse_ranges,
    tune,
    tune_local,
)

# sagemaker-core's local mode hosts one container behind /invocations; the local front
# (lifecycle/front.py) adds serverless's limits and async's InvokeEndpointAsync around it.
LOCAL_MODES = ("realtime", "serverless", "async")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    add_target_arguments(parser)
    add_run_arguments(parser)
    add_training_arguments(parser)
    add_tuning_arguments(parser)
    add_hosting_arguments(parser)
    return checked_args(parser, parser.parse_args(argv))


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Where it runs: local mode or SageMaker, the image, role, bucket, region and instance types."""
    parser.add_argument("--local", action="store_true", help="run everything in Docker with SDK local mode")
    parser.add_argument(
        "--image",
        default=os.environ.get("IMAGE_URI"),
        help=f"the image (default: $IMAGE_URI; in local mode, else {ALGORITHM})",
    )
    parser.add_argument(
        "--role-arn", default=os.environ.get("ROLE_ARN"), help="SageMaker execution role (default: $ROLE_ARN)"
    )
    parser.add_argument(
        "--bucket", default=os.environ.get("BUCKET"), help="S3 bucket for data and models (default: $BUCKET)"
    )
    parser.add_argument("--prefix", default=ALGORITHM, help="S3 key prefix (default: %(default)s)")
    parser.add_argument(
        "--region",
        help=f"AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the AWS profile's, else {REGION}),"
        " as build_and_push.sh picks it",
    )
    parser.add_argument("--training-instance-type", default=TRAINING_INSTANCE_TYPE, help="default: %(default)s")
    parser.add_argument("--hosting-instance-type", default=HOSTING_INSTANCE_TYPE, help="default: %(default)s")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """This run: its name, local folders and port, the data, instance count, environment and where to stop."""
    parser.add_argument("--name", help="name of the jobs, model and endpoint (default: <algorithm>-<UTC time>)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=PROJECT / ".sagemaker",
        help="local mode: where data, model and batch output go (default: .sagemaker/)",
    )
    parser.add_argument("--port", type=int, default=8080, help="local mode: host port of the endpoint (default: 8080)")
    parser.add_argument("--poll-seconds", type=int, default=30, help="SageMaker: seconds between status checks")
    parser.add_argument(
        "--data",
        type=Path,
        default=TEST_DIR / "input" / "data",
        help="folder with training/ and validation/ CSV files to upload (default: the sample data)",
    )
    parser.add_argument(
        "--instance-count", type=int, default=1, help="training instances (a model.py with join trains across them)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="environment of the training job (repeatable)"
    )
    parser.add_argument(
        "--train-only", action="store_true", help="stop after training or tuning (keeps the model artifact)"
    )


def checked_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """The arguments with their defaults resolved (region, image) and checked; parser.error for a bad one."""
    args.region = (
        args.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or boto3.Session().region_name  # the AWS profile's region
        or REGION
    )
    if args.image is None and args.local:
        args.image = ALGORITHM
    if args.image is None:
        parser.error("--image (or IMAGE_URI) is required on SageMaker: the ECR URI ./build_and_push.sh prints")
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    if args.name is not None and not (NAME.fullmatch(args.name) and len(args.name) <= NAME_MAX):
        parser.error("--name must be 1 to 63 letters, digits and '-', starting and ending with a letter or digit")
    args.stopping = stopping_options(parser, args)
    args.tuning = tuning_options(parser, args)
    args.hosting_options = hosting_options(parser, args)
    return args


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training time and managed spot (SageMaker)")
    group.add_argument(
        "--max-runtime", type=int, default=MAX_RUNTIME_SECONDS, help="MaxRuntimeInSeconds (default: %(default)s)"
    )
    group.add_argument("--spot", action="store_true", help="managed spot training: spare capacity, interruptible")
    group.add_argument(
        "--max-wait",
        type=int,
        help="spot: MaxWaitTimeInSeconds, runtime plus waiting, >= --max-runtime (default: twice it)",
    )
    group.add_argument(
        "--checkpoint-local-path",
        help="spot: where the container writes checkpoints, synced with the run's checkpoints/ in S3"
        " (default: /opt/ml/checkpoints)",
    )


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tuning (--tune; see above)")
    group.add_argument("--tune", action="store_true", help="a hyperparameter tuning job instead of one training job")
    group.add_argument(
        "--tune-range",
        action="append",
        default=[],
        metavar="NAME[=RANGE]",
        help="LOW:HIGH[:SCALING] or a,b,c; NAME alone: its range in hyperparameters.json"
        " (repeatable; default: every range there)",
    )
    group.add_argument("--objective", help=f"metric to rank by (default: {DEFAULT_OBJECTIVE})")
    group.add_argument("--objective-type", choices=("Maximize", "Minimize"), help="default: from the metric")
    group.add_argument("--strategy", choices=STRATEGIES, help="default: Bayesian (--local: Random)")
    group.add_argument(
        "--max-jobs", type=int, help=f"training jobs (default: {DEFAULT_MAX_JOBS}; Grid: every combination)"
    )
    group.add_argument(
        "--parallel-jobs", type=int, help=f"training jobs at a time (default: {DEFAULT_PARALLEL_JOBS}; --local: 1)"
    )
    group.add_argument("--early-stopping", choices=("Off", "Auto"), help="TrainingJobEarlyStoppingType (default: Off)")
    group.add_argument("--tune-seed", type=int, help="RandomSeed, and the seed of a local run's random picks")


def stopping_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Stopping:
    stopping = Stopping(
        max_runtime=args.max_runtime,
        spot=args.spot,
        max_wait=args.max_wait,
        checkpoint_local_path=args.checkpoint_local_path,
    )
    problems = stopping.problems()
    if args.local and args.spot:
        problems.append("--spot needs SageMaker: local mode trains on this machine, with no spot capacity to wait for")
    if problems:
        parser.error("; ".join(problems))
    return stopping


TUNING_FLAGS = ("tune_range", "objective", "objective_type", "strategy", "max_jobs", "parallel_jobs")
TUNING_FLAGS += ("early_stopping", "tune_seed")


def tuning_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Tuning | None:
    if not args.tune:
        given = [f"--{flag.replace('_', '-')}" for flag in TUNING_FLAGS if getattr(args, flag) not in (None, [])]
        if given:
            parser.error(f"{', '.join(given)}: for a tuning job only, add --tune")
        return None
    if args.local and args.parallel_jobs not in (None, 1):
        parser.error("--parallel-jobs: a local tuning run trains one job at a time")
    try:
        ranges = parse_ranges(args.tune_range)
    except ValueError as exc:
        parser.error(str(exc))
    tuning = Tuning(
        ranges=ranges,
        objective=args.objective or DEFAULT_OBJECTIVE,
        objective_type=args.objective_type,
        strategy=args.strategy,
        max_jobs=args.max_jobs,
        parallel_jobs=args.parallel_jobs or (1 if args.local else DEFAULT_PARALLEL_JOBS),
        early_stopping=args.early_stopping or "Off",
        seed=args.tune_seed,
    )
    problems = tuning.problems(args.local)
    if problems:
        parser.error("; ".join(problems))
    return tuning


def add_hosting_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hosting (see the modes above)")
    group.add_argument("--hosting", choices=MODES, default="realtime", help="hosting mode (default: %(default)s)")
    group.add_argument("--hosting-instance-count", type=int, default=1, help="endpoint instances (default: 1)")
    group.add_argument(
        "--startup-health-timeout",
        type=int,
        default=STARTUP_HEALTH_TIMEOUT_SECONDS,
        help="seconds for the container's first passing /ping, 60-3600 (default: %(default)s)",
    )
    group.add_argument(
        "--model-download-timeout",
        type=int,
        default=MODEL_DOWNLOAD_TIMEOUT_SECONDS,
        help="seconds to download the model artifact, 60-3600 (default: %(default)s)",
    )
    group.add_argument("--serverless-memory", type=int, default=2048, help="MB: 1024 to 6144 in steps of 1024")
    group.add_argument("--serverless-concurrency", type=int, default=5, help="MaxConcurrency, 1-200 (default: 5)")
    group.add_argument(
        "--async-concurrency", type=int, default=4, help="MaxConcurrentInvocationsPerInstance, 1-1000 (default: 4)"
    )
    group.add_argument(
        "--async-wait", type=int, help="seconds to wait for the async answer (default: the async timeout + 300)"
    )
    group.add_argument("--ic-cpus", type=float, default=1.0, help="CPU cores per inference component copy")
    group.add_argument("--ic-memory", type=int, default=1024, help="MB per inference component copy (default: 1024)")
    group.add_argument("--ic-copies", type=int, default=1, help="inference component copies (default: 1)")
    group.add_argument(
        "--autoscale",
        metavar="MIN:MAX:TARGET",
        help="target tracking: MIN to MAX instances (copies) at TARGET invocations per minute each (not serverless)",
    )


def hosting_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Hosting:
    autoscale = None
    if args.autoscale is not None:
        try:
            minimum, maximum, target = args.autoscale.split(":")
            autoscale = Autoscale(int(minimum), int(maximum), float(target))
        except ValueError:
            parser.error("--autoscale takes MIN:MAX:TARGET, e.g. 1:4:100")
    if args.local and args.hosting not in LOCAL_MODES:
        parser.error(
            f"--hosting {args.hosting} needs SageMaker: SDK local mode runs {', '.join(LOCAL_MODES)} only, so run"
            " without --local (tests/test_hosting_modes.py checks each mode's calls against moto) and test the"
            " container's side with `make test-container`"
        )
    if args.local and autoscale is not None:
        parser.error("--autoscale needs SageMaker: SDK local mode has no Application Auto Scaling")
    hosting = Hosting(
        mode=args.hosting,
        instance_count=args.hosting_instance_count,
        startup_health_timeout=args.startup_health_timeout,
        model_download_timeout=args.model_download_timeout,
        serverless_memory_mb=args.serverless_memory,
        serverless_concurrency=args.serverless_concurrency,
        async_concurrency=args.async_concurrency,
        async_wait_seconds=args.async_wait,
        ic_cpus=args.ic_cpus,
        ic_memory_mb=args.ic_memory,
        ic_copies=args.ic_copies,
        autoscale=autoscale,
    )
    problems = hosting.problems()
    if problems:
        parser.error("; ".join(problems))
    return hosting


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = args.name or resource_name(ALGORITHM, datetime.now(timezone.utc))
    resources = Resources()
    backend = None
    problems: list[str] = []
    trained = "trained" if args.tuning is None else "tuned"
    try:
        check_image(args.image, args.local, args.region)
        if args.local:
            run_dir = (args.workdir / name).resolve()
            run_dir.mkdir(parents=True, exist_ok=True)
            say(f"SDK local mode: region {args.region}, files in {run_dir}, endpoint on port {args.port}")
            backend = local_backend(args, run_dir)
        else:
            say(f"SageMaker in {args.region}: files in s3://{args.bucket}/{args.prefix}/{name}/")
            backend = aws_backend(args, name)
        uris = upload_data(backend, args.data)
        artifact = train_or_tune(args, backend, name, uris, resources)
        if args.train_only:
            return finish(backend, resources, problems, f"\ndone: {name} {trained}, model in {artifact}")
        deployment = deploy(backend, name, args.image, artifact, resources, args.hosting_options)
        predict(backend, deployment)
        # The endpoint bills by the hour, and in local mode it holds the port batch transform needs.
        step("delete the endpoint: batch transform starts its own instances")
        problems += delete(backend, resources, *ENDPOINT_PARTS)
        if problems:
            raise StepFailed("could not delete the endpoint")
        batch_transform(backend, name, args.image, artifact, uris, resources)
    except (Exception, KeyboardInterrupt) as exc:  # report any failure, clean up, exit 1
        kind = "" if isinstance(exc, StepFailed) else f"{type(exc).__name__}: "
        problems.append(f"{kind}{exc}" if str(exc) else kind + "interrupted")
    return finish(
        backend, resources, problems, f"\ndone: {name} {trained}, served, predicted, batch-transformed and cleaned up"
    )


def train_or_tune(
    args: argparse.Namespace, backend: Backend, name: str, uris: dict[str, str], resources: Resources
) -> str:
    """One training job, a tuning job (SageMaker) or a local tuning run; returns the (best) model artifact."""
    environment = dict(item.split("=", 1) for item in args.env)

    def request(job: str, hyperparameters: dict[str, str] | None = None, output: str = "model") -> dict:
        return training_request(
            backend, job, args.image, uris, args.instance_count, environment, args.stopping, hyperparameters, output
        )

    def local_job(job: str, values: dict[str, str]) -> tuple[str, dict]:  # one job of a local tuning run
        job_request = request(job, {**sample_hyperparameters(), **values}, f"tuning/{job}")
        return train(backend, job_request, resources), job_request

    if args.tuning is None:
        return train(backend, request(name), resources)
    if args.local:
        return tune_local(name, args.tuning, local_job)
    return tune(backend, name, request(name), args.tuning, resources)


def finish(backend: Backend | None, resources: Resources, problems: list[str], success: str) -> int:
    """Clean up whatever the run created, then report: exit code 0 or 1."""
    if backend is not None:
        step("clean up")
        problems += [f"cleanup: {problem}" for problem in cleanup(backend, resources)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr, flush=True)
    if problems:
        return 1
    say(success)
    return 0


if __name__ == "__main__":
    sys.exit(main())
