#!/usr/bin/env bash
# Serve the model in local_test/test_dir/model/ as a SageMaker endpoint would, on port 8080.
# Usage: local_test/serve_local.sh [IMAGE]    (IMAGE defaults to {{ cookiecutter.algorithm_name }})
# The model folder is mounted read-only, as SageMaker treats /opt/ml/model. Ctrl-C stops it.
set -euo pipefail
image="${1:-{{ cookiecutter.algorithm_name }}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

exec docker run --rm -p 127.0.0.1:8080:8080 \
    -v "$here/test_dir/model:/opt/ml/model:ro" "$image" serve
