"""What SageMaker's multi-model host does around the container's /models API (contract.md §4), for
the local front door (front.py). Standard library only; Python 3.10+."""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from lifecycle.runtime_errors import validation

# The front's request to the container: (method, path, body, headers, endpoint) -> (status, headers, body),
# and the ModelError SageMaker answers for a container's error status: (endpoint, status, body) -> exception.
Call = Callable[[str, str, bytes | None, dict[str, str], str], tuple[int, dict[str, str], bytes]]
ModelError = Callable[[str, int, bytes], Exception]


class MultiModelHost:
    """What SageMaker's multi-model host does around the container's /models API (contract.md §4):
    unpack a target on its first invoke, load it, invoke it, and unload the least recently used
    model when the container answers 507. call and model_error: the front's (front.py)."""

    def __init__(self, call: Call, model_error: ModelError, model_data_dir: Path, scratch_dir: str | Path | None,
                 mounts: dict[str, str]):  # fmt: skip
        self.call, self.model_error, self.model_data_dir = call, model_error, model_data_dir.resolve()
        self._own_scratch = scratch_dir is None
        self.scratch = Path(scratch_dir or tempfile.mkdtemp(prefix="mme-models-")).resolve()
        self.mounts = {str(Path(host).resolve()): container for host, container in mounts.items()}
        self.loaded: collections.OrderedDict[str, str] = collections.OrderedDict()  # model_name -> target, LRU first
        self.lock = threading.Lock()  # one load at a time, as the order of evictions matters

    @staticmethod
    def model_name(target: str) -> str:
        """Opaque, as SageMaker's is: the container must not parse it back into the target."""
        return hashlib.sha256(target.encode()).hexdigest()[:32]

    def container_path(self, path: Path) -> str:
        for host, container in self.mounts.items():
            if path == Path(host) or Path(host) in path.parents:
                return container.rstrip("/") + "/" + path.relative_to(host).as_posix()
        return str(path)

    def invoke(self, endpoint: str, target: str, body: bytes, headers: dict[str, str]):
        name = self.model_name(target)
        for _ in range(2):  # once more if the container no longer holds a model we loaded
            self.ensure_loaded(endpoint, target, name)
            answer = self.call("POST", f"/models/{name}/invoke", body, headers, endpoint)
            if answer[0] != 404:
                with self.lock:
                    if name in self.loaded:
                        self.loaded.move_to_end(name)
                return answer
            with self.lock:
                self.loaded.pop(name, None)
        return answer

    def ensure_loaded(self, endpoint: str, target: str, name: str) -> None:
        with self.lock:
            if name in self.loaded:
                return
            folder = self.unpack(target, name)
            request = json.dumps({"model_name": name, "url": self.container_path(folder)}).encode()
            while True:
                headers = {"Content-Type": "application/json"}
                status, _, answer = self.call("POST", "/models", request, headers, endpoint)
                if status in (200, 409):  # 409: the container holds it already (we restarted, it did not)
                    self.loaded[name] = target
                    return
                if status == 507 and self.loaded:
                    self.unload_oldest(endpoint)
                    continue
                shutil.rmtree(folder.parent, ignore_errors=True)
                raise self.model_error(endpoint, status, answer)

    def unload_oldest(self, endpoint: str) -> None:
        oldest, _ = self.loaded.popitem(last=False)
        self.call("DELETE", f"/models/{oldest}", None, {}, endpoint)  # 404: already gone, as wanted
        shutil.rmtree(self.scratch / oldest, ignore_errors=True)

    def unpack(self, target: str, name: str) -> Path:
        """<model_data_dir>/<target> unpacked into <scratch>/<name>/model."""
        archive = (self.model_data_dir / target).resolve()
        if self.model_data_dir not in archive.parents or not archive.is_file():
            raise validation(
                f"Failed to download model data(bucket: {self.model_data_dir}, key: {target}). Please ensure that "
                "there is an object located at the URL and that the role passed to CreateModel has permissions to "
                "download the model."
            )
        folder = self.scratch / name / "model"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            with tarfile.open(archive, "r:*") as tar:
                _extract(tar, folder)
        except (tarfile.TarError, OSError, ValueError) as exc:
            shutil.rmtree(folder.parent, ignore_errors=True)
            raise validation(f"Failed to extract model data for target model {target}: {exc}") from None
        folder.parent.chmod(0o755)  # read by the container's user, whoever it is
        return folder

    def close(self) -> None:
        if self._own_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _extract(tar: tarfile.TarFile, folder: Path) -> None:
    """Extract without letting a member escape folder (tarfile's "data" filter where it exists)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    for member in tar.getmembers():  # Python 3.10 before 3.10.12
        target = (folder / member.name).resolve()
        if folder.resolve() not in target.parents and target != folder.resolve():
            raise ValueError(f"{member.name!r} is outside the archive's folder")
        if member.issym() or member.islnk() or member.isdev():
            raise ValueError(f"{member.name!r} is a link or a device")
    tar.extractall(folder)
