"""A venv per SageMaker SDK for tests/test_sdk_versions.py, made once and kept for later runs.

The SDKs cannot share one venv, nor this one: SDK v2 (`sagemaker` 2.x) needs sagemaker-core 1.x,
v3's sagemaker-train and requirements-deploy.txt need 2.x, and v2's `sagemaker` package and v3's
install into the same `sagemaker` folder. Each test runs its SDK in a subprocess of its venv's
python. The venvs live in SDK_VENV_CACHE (default ~/.cache/byoc-sdk-venvs), one per requirements
file's content and Python version, shared by every project rendered from this template.
"""

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(
    os.environ.get("SDK_VENV_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "byoc-sdk-venvs"
)
COMPLETE = ".complete"  # written last: a venv without it (an install cut short) is made again


def sdk_python(requirements: Path, timeout: float = 1800) -> tuple[Path, float | None]:
    """The python of a venv holding requirements, and the seconds it took to make (None: it was cached)."""
    content = requirements.read_bytes()
    key = hashlib.sha256(content + f"{sys.version}|{platform.machine()}".encode()).hexdigest()[:16]
    venv = CACHE / f"{requirements.stem}-{key}"
    python = venv / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run making the same venv: wait for it, then use it
        if (venv / COMPLETE).exists() and subprocess.run([python, "-c", ""], capture_output=True).returncode == 0:
            return python, None
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r", str(requirements)]
        result = subprocess.run(pip, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            output = result.stdout[-3000:] + result.stderr[-3000:]
            raise AssertionError(f"pip install -r {requirements.name} failed:\n{output}")
        (venv / COMPLETE).write_bytes(content)
        return python, time.monotonic() - started
