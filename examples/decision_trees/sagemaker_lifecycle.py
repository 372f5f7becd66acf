"""The whole SageMaker lifecycle of this image, step by step, with the plain SageMaker API.

    python sagemaker_lifecycle.py --local
        SDK local mode: every step runs in Docker on this machine, no AWS account needed.
    python sagemaker_lifecycle.py --image URI --role-arn ARN --bucket BUCKET
        On SageMaker (IMAGE_URI, ROLE_ARN and BUCKET may come from the environment instead):
        URI is the ECR image `./build_and_push.sh` printed; ARN a role SageMaker can assume
        with access to BUCKET; BUCKET an S3 bucket in the same region.

Steps: upload the sample data (local_test/test_dir/input/data), train (MetricDefinitions
from the program's contract/metrics.py), create the model, the endpoint config and the endpoint,
send local_test/payload.csv to the endpoint and print the predictions, delete the
endpoint, run a batch transform of the same payload and print its output, and finally
delete the endpoint, the endpoint config and the model, also when a step failed.

One code path serves both modes: SageMaker's boto3 clients on AWS, and in local mode
the SDK's LocalSession clients, which take the same calls (sagemaker-core's
`sagemaker.core.local`). Only storage differs: s3:// URIs on AWS, file:// in local mode.
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

# The parts, by concern: lifecycle/project.py, storage.py, backends.py and steps.py.
from lifecycle.backends import Backend, aws_backend, check_image, local_backend  # noqa: E402 (after the boto3 check)
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
    say,
    step,
)
from lifecycle.steps import (  # noqa: E402
    Resources,
    batch_transform,
    cleanup,
    delete,
    deploy,
    predict,
    train,
    upload_data,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
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
        "--instance-count", type=int, default=1, help="training instances (XGBoost trains one model across them)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="environment of the training job (repeatable)"
    )
    parser.add_argument("--train-only", action="store_true", help="stop after training (keeps the model artifact)")
    args = parser.parse_args(argv)
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
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = args.name or resource_name(ALGORITHM, datetime.now(timezone.utc))
    resources = Resources()
    backend = None
    problems: list[str] = []
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
        environment = dict(item.split("=", 1) for item in args.env)
        artifact = train(backend, name, args.image, uris, resources, args.instance_count, environment)
        if args.train_only:
            return finish(backend, resources, problems, f"\ndone: {name} trained, model in {artifact}")
        deploy(backend, name, args.image, artifact, resources)
        predict(backend, name)
        # The endpoint bills by the hour, and in local mode it holds the port batch transform needs.
        step("delete the endpoint: batch transform starts its own instances")
        problems += delete(backend, resources, "endpoint", "endpoint_config")
        if problems:
            raise StepFailed("could not delete the endpoint")
        batch_transform(backend, name, uris, resources)
    except (Exception, KeyboardInterrupt) as exc:  # report any failure, clean up, exit 1
        kind = "" if isinstance(exc, StepFailed) else f"{type(exc).__name__}: "
        problems.append(f"{kind}{exc}" if str(exc) else kind + "interrupted")
    return finish(
        backend, resources, problems, f"\ndone: {name} trained, served, predicted, batch-transformed and cleaned up"
    )


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
