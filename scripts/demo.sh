#!/usr/bin/env bash
# The main job, with no AWS and no Docker: render the default project, train it on the
# sample data, serve it (nginx -> gunicorn -> Flask) and send it the sample payload.
# The rendered programs run as host processes: OPT_ML stands in for /opt/ml.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"

out="$root/build/demo"
rm -rf "$out"
"$root/.venv/bin/cookiecutter" --no-input "$root" -o "$out"
project="$out/decision_trees"
export OPT_ML="$out/opt_ml" PATH="$root/.venv/bin:/usr/sbin:$PATH"
cp -r "$project/local_test/test_dir" "$OPT_ML"

echo "== train (the container's /opt/ml is $OPT_ML)"
"$project/contract/train"

port="${PORT:-8080}"
echo "== serve on port $port"
SAGEMAKER_BIND_TO_PORT="$port" "$project/contract/serve" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/ping" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "demo: serve exited" >&2; exit 1; }
    sleep 0.1
done

echo "== predict local_test/payload.csv"
PORT="$port" "$project/local_test/predict.sh" "$project/local_test/payload.csv" text/csv
