#!/usr/bin/env bash
# Train in the container exactly as SageMaker would: test_dir is mounted as /opt/ml.
# Usage: local_test/train_local.sh [IMAGE]    (IMAGE defaults to {{ cookiecutter.algorithm_name }})
# The model lands in local_test/test_dir/model/; a failure reason in test_dir/output/failure.
set -euo pipefail
image="${1:-{{ cookiecutter.algorithm_name }}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mkdir -p "$here/test_dir/model" "$here/test_dir/output"
docker run --rm -v "$here/test_dir:/opt/ml" "$image" train
