#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv, install and start a Docker engine
# if none answers, build the base image the rendered Dockerfile names (no registry can be
# reached here), then run every tier. Arguments go to pytest (e.g. -m "not container").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh

# Stop only what this run started (a pid file of our own: see docker_engine.sh).
BYOC_DOCKERD_PIDFILE="$(mktemp -u /tmp/byoc-dockerd.XXXXXX.pid)"
export BYOC_DOCKERD_PIDFILE
trap 'scripts/docker_engine.sh stop || true' EXIT
scripts/docker_engine.sh
base_image="$(.venv/bin/python -c 'import json; print(json.load(open("cookiecutter.json"))["base_image"])')"
scripts/base_image.sh "$base_image"

.venv/bin/python -m pytest "$@"
