#!/usr/bin/env bash
# templates/frameworks/*/requirements.lock, the rendered project's requirements.lock: each framework is
# rendered and its own `make lock` run (uv from this checkout's .venv, the version the project pins),
# so the lock is byte for byte what a user's `make lock` writes. Run it after changing
# templates/requirements-serving.txt or a framework's requirements.txt; tests/test_render.py checks
# that each lock has every pin of both. uv keeps the versions a lock already has where it can.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
uv="${UV:-$root/.venv/bin/uv}"
cookiecutter="${COOKIECUTTER:-$root/.venv/bin/cookiecutter}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for framework_dir in "$root"/templates/frameworks/*/; do
    framework="$(basename "$framework_dir")"
    "$cookiecutter" --no-input -f -o "$scratch/$framework" "$root" framework="$framework"
    project="$(echo "$scratch/$framework"/*)"
    make -C "$project" --no-print-directory lock UV="$uv"
    cp "$project/$(basename "$project")/requirements.lock" "$framework_dir/requirements.lock"
    echo "lock: templates/frameworks/$framework/requirements.lock"
done
