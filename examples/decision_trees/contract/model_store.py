"""Multi-model endpoints: the models this container holds, shared by every gunicorn worker.

SageMaker's MME host calls POST /models once per model, on whichever worker takes the request,
then sends invokes that any worker may take. So what is loaded is recorded on disk, in a
registry folder that `serve` makes (one small JSON file per model, created with a hard link so
that two loads of one name cannot both win), and each worker loads a registered model itself
on its first invoke. A worker that gunicorn replaces therefore serves every model at once,
and DELETE is seen by every worker (the registry folder's mtime changes; each worker checks
it before a request, and a thread checks it every second so idle workers free memory too).

Memory is measured, not guessed: before a load, what the container may still use (its
cgroup's limit less what it uses, or the machine's MemAvailable); after it, what the load cost
this worker (its resident size's growth, at least the files' size). Every worker will hold its
own copy, so a load is refused with 507 when the copies still to come would leave less than
MULTI_MODEL_MEMORY_RESERVE_MB; SageMaker then unloads models it has not used lately and retries.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from contract import model_artifact, serving
from contract.interface import ModelCode

MB = 1024 * 1024
NAME_MAX = 1024  # TargetModel's limit; model_name is derived from it
PAGE_DEFAULT, PAGE_MAX = 100, 1000
SYNC_SECONDS = 1.0
log = logging.getLogger("predictor")


class StoreError(Exception):
    """A request the store refuses; status is the HTTP status the contract gives it."""

    status = 400


class BadRequest(StoreError):
    status = 400


class NotLoaded(StoreError):
    status = 404


class AlreadyLoaded(StoreError):
    status = 409


class OutOfMemory(StoreError):
    status = 507


@dataclass
class Loaded:
    token: str  # the registration this copy belongs to: a name unloaded and loaded again is a new one
    model: model_artifact.Model


class ModelStore:
    def __init__(self, registry: Path, code: ModelCode, threads: int, workers: int):
        self.registry, self.code, self.threads, self.workers = registry, code, threads, workers
        self.registry.mkdir(parents=True, exist_ok=True)
        self.reserve = serving.memory_reserve_mb() * MB
        self.loaded: dict[str, Loaded] = {}
        self.lock = threading.Lock()  # the request thread and the sync thread share self.loaded
        self.seen_mtime = -1
        threading.Thread(target=self._sync_forever, name="model-store-sync", daemon=True).start()

    # -- the five calls of the contract ------------------------------------------------------

    def load(self, body: object) -> dict:
        name, url = _load_request(body)
        if self._entry(name) is not None:
            raise AlreadyLoaded(f"model {name!r} is already loaded; DELETE /models/{name} first to replace it")
        folder = Path(url)
        if not folder.is_dir():
            raise BadRequest(f"url {url!r} is not a folder in this container: it must hold the unpacked model.tar.gz")
        left = memory_left()
        if left is not None and left < self.reserve:
            raise OutOfMemory(
                f"{_mb(left)} MB of memory left, below the {_mb(self.reserve)} MB reserve: unload a model first"
            )
        before = resident_bytes()
        model = self._read(folder)
        cost = max(resident_bytes() - before, _folder_bytes(folder))
        left = memory_left()
        needed = cost * (self.workers - 1) + self.reserve
        if left is not None and left < needed:
            raise OutOfMemory(
                f"model {name!r} takes about {_mb(cost)} MB in each of {self.workers} workers; "
                f"{_mb(left)} MB left, {_mb(needed)} MB needed (with the {_mb(self.reserve)} MB reserve)"
            )
        token = uuid.uuid4().hex
        entry = {"modelName": name, "modelUrl": url, "token": token, "workerBytes": cost}
        temporary = self.registry / f".{token}.tmp"
        temporary.write_text(json.dumps(entry), encoding="utf-8")
        try:
            os.link(temporary, self._path(name))  # atomic: fails if the name was registered meanwhile
        except FileExistsError:
            raise AlreadyLoaded(f"model {name!r} is already loaded") from None
        finally:
            temporary.unlink()
        with self.lock:
            self.loaded[name] = Loaded(token, model)
        return {"modelName": name, "modelUrl": url}

    def page(self, limit: str | None, token: str | None) -> dict:
        size = _whole(limit, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
        entries = sorted(self._entries(), key=lambda e: e["modelName"])
        start = _whole(token, "next_page_token", 0, 0, len(entries))
        page = entries[start : start + size]
        answer: dict = {"models": [_public(e) for e in page]}
        if start + size < len(entries):
            answer["nextPageToken"] = str(start + size)
        return answer

    def describe(self, name: str) -> dict:
        entry = self._entry(name)
        if entry is None:
            raise NotLoaded(_unknown(name))
        return _public(entry)

    def unload(self, name: str) -> None:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise NotLoaded(_unknown(name)) from None
        with self.lock:
            self.loaded.pop(name, None)

    def get(self, name: str) -> model_artifact.Model:
        """The model to invoke: this worker's copy, loaded now if another worker registered it."""
        self.sync()
        entry = self._entry(name)
        if entry is None:
            raise NotLoaded(_unknown(name))
        with self.lock:
            copy = self.loaded.get(name)
        if copy is not None and copy.token == entry["token"]:
            return copy.model
        model = self._read(Path(entry["modelUrl"]))
        with self.lock:
            self.loaded[name] = Loaded(entry["token"], model)
        return model

    # -- keeping every worker's copies in step with the registry -------------------------------

    def sync(self) -> None:
        """Drop this worker's copies of models that were unloaded (by any worker)."""
        try:
            mtime = self.registry.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self.seen_mtime:
            return
        tokens = {e["modelName"]: e["token"] for e in self._entries()}
        with self.lock:
            self.seen_mtime = mtime
            for name in [n for n, c in self.loaded.items() if tokens.get(n) != c.token]:
                del self.loaded[name]

    def _sync_forever(self) -> None:
        while True:
            time.sleep(SYNC_SECONDS)
            self.sync()

    def _read(self, folder: Path) -> model_artifact.Model:
        try:
            return model_artifact.load(self.code, folder, self.threads)
        except model_artifact.ModelLoadError as exc:
            if exc.traceback:
                log.error("model in %s not loaded: %s", folder, exc, exc_info=exc)
            raise BadRequest(str(exc)) from exc
        except MemoryError:
            raise OutOfMemory(f"out of memory while loading the model in {folder}") from None

    def _path(self, name: str) -> Path:
        # Names are opaque (up to 1024 characters, any of them): the file is named by a digest.
        return self.registry / (hashlib.sha256(name.encode("utf-8")).hexdigest() + ".json")

    def _entry(self, name: str) -> dict | None:
        try:
            return json.loads(self._path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def _entries(self) -> list[dict]:
        found = []
        for path in self.registry.glob("*.json"):
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except FileNotFoundError:  # unloaded while listing
                continue
        return found


def _load_request(body: object) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"model_name": "...", "url": "/opt/ml/models/.../model"}')
    name, url = body.get("model_name"), body.get("url")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise BadRequest(f"model_name must be a string of 1 to {NAME_MAX} characters")
    if not isinstance(url, str) or not url:
        raise BadRequest("url must be the path of the folder holding the unpacked model")
    return name, url


def _public(entry: dict) -> dict:
    return {"modelName": entry["modelName"], "modelUrl": entry["modelUrl"]}


def _unknown(name: str) -> str:
    return f"model {name!r} is not loaded; load it with POST /models"


def _whole(text: str | None, what: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{what}={text!r} must be a whole number from {low} to {high}")
    return int(text)


def _mb(n: int) -> int:
    return round(n / MB)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def resident_bytes() -> int:
    """This process's resident memory (the second field of /proc/self/statm, in pages)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def memory_left() -> int | None:
    """Bytes this container may still use: its cgroup's limit less its usage (page cache it can
    drop counts as free), capped by the machine's MemAvailable; None if neither can be read."""
    found = [left for left in (_cgroup_left(), _meminfo_available()) if left is not None]
    return min(found) if found else None


def _cgroup_left() -> int | None:
    try:
        if (CGROUP_V2 / "memory.max").exists():
            limit_text = (CGROUP_V2 / "memory.max").read_text().strip()
            if limit_text == "max":
                return None
            limit, usage = int(limit_text), int((CGROUP_V2 / "memory.current").read_text())
            reclaimable = _stat(CGROUP_V2 / "memory.stat", "inactive_file")
        else:
            limit = int((CGROUP_V1 / "memory.limit_in_bytes").read_text())
            if limit >= 1 << 60:  # v1's "no limit"
                return None
            usage = int((CGROUP_V1 / "memory.usage_in_bytes").read_text())
            reclaimable = _stat(CGROUP_V1 / "memory.stat", "total_inactive_file")
    except (OSError, ValueError):
        return None
    return max(0, limit - usage + reclaimable)


def _stat(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None
