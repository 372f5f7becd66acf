#!/usr/bin/env bash
# Send a payload to the model served by serve_local.sh and print the predictions.
# Usage: local_test/predict.sh PAYLOAD [CONTENT_TYPE]    (CONTENT_TYPE defaults to text/csv)
# ACCEPT (text/csv, application/json or application/x-npy) picks the answer's format.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 PAYLOAD [CONTENT_TYPE]" >&2
    exit 2
fi
payload="$1"
content_type="${2:-text/csv}"

curl --silent --show-error --fail-with-body \
    --data-binary "@$payload" \
    -H "Content-Type: $content_type" \
    -H "Accept: ${ACCEPT:-text/csv}" \
    "http://localhost:${PORT:-8080}/invocations"
echo
