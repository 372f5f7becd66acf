#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv, install and start a Docker engine
# if none answers, build the base image the rendered Dockerfile names (no registry can be
# reached here), then run every tier, in parallel. Arguments go to pytest (e.g. -m "not container");
# TEST_WORKERS=0 runs them one after another.
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
# tests/test_arm64.py builds and runs the image's arm64 half under QEMU (it makes its arm64 base
# itself, so that time overlaps the other tiers).
scripts/qemu.sh

# Four workers, on two cores too: a tier spends much of its time waiting (on servers, containers,
# training jobs). Tests that share Docker's global names run one after another on one worker
# (conftest.py), the emulated arm64 build holds another for most of the run, and the other tiers
# share the remaining two.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-4}" --dist loadgroup "$@"
