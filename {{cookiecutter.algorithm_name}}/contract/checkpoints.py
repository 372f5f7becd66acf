"""Checkpoints of a training job: where they go, when, and which one a new job may trust.

SageMaker's CheckpointConfig (managed spot training) syncs a local folder, /opt/ml/checkpoints
unless LocalPath says otherwise (then set CHECKPOINT_DIR to it: paths.py), with S3 while the job runs,
and copies it back into every host of the next job with the same S3Uri. When that folder
exists, a model.py with CHECKPOINTS = True gets a Checkpoints object in job.checkpoints: it
saves one every CHECKPOINT_ROUNDS rounds and, after SIGTERM (a spot interruption gives 120 s),
once more at the end of the round in progress, and the job stops. A new job resumes from the
newest checkpoint that is whole and was written for the same data and hyperparameters; any
other file is skipped with a line in the log, never trusted.

Each checkpoint is two files: the framework's model file, then a manifest (checkpoint-<round>.json)
with the model file's size and SHA-256, the job's fingerprint and the framework's own state
(e.g. early stopping's best round). The manifest is written last and renamed into place, so a
job killed while writing leaves at worst a checkpoint whose checksum does not match.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

EVERY_VARIABLE = "CHECKPOINT_ROUNDS"
DEFAULT_EVERY = 10
# The settings this module reads, for docs/environment.md: name -> (default, effect).
ENVIRONMENT = {EVERY_VARIABLE: (str(DEFAULT_EVERY), "boosting rounds between two checkpoints")}
KEEP = 2  # the newest two: one may be cut short by an interruption, the one before is whole
GRACE_SECONDS = 100  # after SIGTERM, for the round in progress to end (SageMaker waits 120 s)
MANIFEST = re.compile(r"checkpoint-(\d{6,})\.json")
VERSION = 1


class Interrupted(Exception):
    """A signal stopped training at the end of a round, once the checkpoint of that round was saved."""

    def __init__(self, round_: int, saved: Path | None):
        self.round, self.saved = round_, saved
        where = f"; checkpoint {saved.name} holds the work so far" if saved else ""
        super().__init__(f"training was stopped by a signal after round {round_}{where}")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint worth resuming from: its round, its model file and the framework's state."""

    round: int
    file: Path
    state: dict


def every() -> int:
    text = os.environ.get(EVERY_VARIABLE, "").strip()
    if not text:
        return DEFAULT_EVERY
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{EVERY_VARIABLE}={text!r} must be a whole number of rounds, 1 or more")
    return int(text)


active: "Checkpoints | None" = None  # the job's, for the signal handler


class Checkpoints:
    """A job's checkpoints. `resume` is the one to start from (None: start from round 0)."""

    def __init__(self, directory: Path, fingerprint: str, rounds: int, writer: bool = True):
        self.directory, self.fingerprint, self.every, self.writer = directory, fingerprint, rounds, writer
        self.stop = threading.Event()  # set by the signal handler: save at the end of this round, then stop
        self.resume = self.find()

    def due(self, round_: int) -> bool:
        return self.stop.is_set() or round_ % self.every == 0

    def save(self, round_: int, suffix: str, write: Callable[[Path], None], state: dict) -> None:
        """The checkpoint of round_: `write(path)` writes the framework's model file at path (its
        name ends in suffix, e.g. .ubj). After a signal, this is the last: Interrupted is raised."""
        saved = None
        if self.writer:
            saved = self._write(round_, suffix, write, state)
        if self.stop.is_set():
            raise Interrupted(round_, saved)

    def _write(self, round_: int, suffix: str, write: Callable[[Path], None], state: dict) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = f"checkpoint-{round_:06d}"
        model_file = self.directory / f"{stem}{suffix}"
        temporary = self.directory / f".{stem}.tmp{suffix}"  # dot names are never read back
        write(temporary)
        _fsync(temporary)
        temporary.replace(model_file)
        manifest = {
            "version": VERSION,
            "round": round_,
            "fingerprint": self.fingerprint,
            "file": model_file.name,
            "bytes": model_file.stat().st_size,
            "sha256": _sha256(model_file),
            "state": state,
        }
        temporary = self.directory / f".{stem}.tmp.json"
        temporary.write_text(json.dumps(manifest), encoding="utf-8")
        _fsync(temporary)
        temporary.replace(self.directory / f"{stem}.json")
        self._prune()
        return model_file

    def _prune(self) -> None:
        """Delete this job's checkpoints but the newest KEEP; another job's files are never touched."""
        ours = []
        for round_, path in _manifests(self.directory):
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("fingerprint") == self.fingerprint:
                ours.append((round_, path, manifest.get("file")))
        for _round, path, file_name in sorted(ours, reverse=True)[KEEP:]:
            if isinstance(file_name, str) and "/" not in file_name:
                (self.directory / file_name).unlink(missing_ok=True)
            path.unlink(missing_ok=True)

    def find(self) -> Checkpoint | None:
        """The newest checkpoint that is whole and this job's; every other file is logged and skipped."""
        if not self.directory.is_dir():
            return None
        manifests = _manifests(self.directory)
        known = {p.name for _, p in manifests}
        for _round, path in manifests:
            try:
                known.add(json.loads(path.read_text(encoding="utf-8"))["file"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        for path in sorted(self.directory.iterdir()):
            if path.name not in known and not path.name.startswith("."):
                print(f"checkpoints: {path.name} skipped: not a checkpoint this image wrote", flush=True)
        for _round, path in sorted(manifests, reverse=True):
            checkpoint, problem = self._check(path)
            if checkpoint is not None:
                print(f"checkpoints: resuming from {path.name} (round {checkpoint.round})", flush=True)
                return checkpoint
            print(f"checkpoints: {path.name} skipped: {problem}", flush=True)
        return None

    def _check(self, path: Path) -> tuple[Checkpoint | None, str]:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            version, round_, file_name = manifest["version"], int(manifest["round"]), str(manifest["file"])
            size, digest, state = int(manifest["bytes"]), str(manifest["sha256"]), dict(manifest["state"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return None, f"unreadable or incomplete ({type(exc).__name__}: {exc})"
        if version != VERSION:
            return None, f"written in format {version}, this image reads format {VERSION}"
        if manifest.get("fingerprint") != self.fingerprint:
            return None, "written for other data or hyperparameters (a job with another CheckpointConfig?)"
        model_file = self.directory / file_name
        if model_file.parent != self.directory or not model_file.is_file():
            return None, f"its model file {file_name} is missing"
        if model_file.stat().st_size != size or _sha256(model_file) != digest:
            return None, f"its model file {file_name} is truncated or changed (size or SHA-256 differs)"
        return Checkpoint(round_, model_file, state), ""


def _manifests(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        match = MANIFEST.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())
