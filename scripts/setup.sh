#!/usr/bin/env bash
# Prepare this checkout on a fresh Debian/Ubuntu machine: .venv with Python 3.12+, the
# template's tools and every framework's pinned dependencies, and nginx and curl for
# running `serve` and `predict.sh` as host processes. Quick when already done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {
    # Python 3.12+ (the image runs 3.13): PYTHON, then python3.13/3.12, then pyenv's builds.
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3 /root/.pyenv/versions/3.13*/bin/python3 \
        "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "setup: Python 3.12 or newer is needed (set PYTHON=/path/to/python3.12+)" >&2
    return 1
}

apt_install nginx curl make git wrk
requirements=("$root/requirements-dev.txt" "$root/templates/serving/requirements.txt"
    "$root"/templates/frameworks/*/requirements.lock
    "$root/{{cookiecutter.algorithm_name}}/requirements-deploy.txt")
stamp="$venv/.requirements.sha256"
wanted="$(cat "${requirements[@]}" | sha256sum)"
if [ ! -x "$venv/bin/python" ]; then
    "$(find_python)" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    args=()
    for file in "${requirements[@]}"; do args+=(-r "$file"); done
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${args[@]}"
    echo "$wanted" >"$stamp"
fi
echo "setup: $("$venv/bin/python" --version) in $venv, nginx $(nginx -v 2>&1 | cut -d/ -f2)"
