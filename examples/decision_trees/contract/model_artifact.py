"""The model directory: model.py's files plus model.json, never half-written.

`train` has model.py save into a hidden staging folder inside /opt/ml/model (same
filesystem, so renames are atomic), loads it back from there and checks that it predicts
what the trained model predicts, then renames the files into place, model.json last;
`serve` refuses a folder without it. A failed or stopped job therefore leaves no model
that looks complete, and a model whose save and load disagree fails the training job,
not the endpoint.

model.json records the SHA-256 digest of every file save wrote, and load refuses a file that
no longer matches: a file changed or damaged after training. Whoever can write the model.tar.gz
can rewrite model.json too, so the protection is MODEL_SHA256, an environment variable the
deployer sets from the training job's log: the digest(s) of model.json an endpoint may load.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import hashlib
import json
import os
import pickle
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np

from contract import payloads
from contract.interface import ModelCode, RequestError, constant

META = "model.json"
STAGING_PREFIX = ".staging-"
PINNED = "MODEL_SHA256"  # environment: the model.json digest(s) an endpoint may load, comma-separated
# Held while files are renamed into place, so a SIGTERM cannot cut a commit in half.
commit_lock = threading.Lock()
committed = threading.Event()  # set, under the lock, once a model is completely in place


class ModelLoadError(RuntimeError):
    """/opt/ml/model does not hold a model this image can serve; the message says why.
    traceback: the cause's traceback belongs in the log (model.py's load failed in a way not foreseen)."""

    def __init__(self, message: str, traceback: bool = False):
        super().__init__(message)
        self.traceback = traceback


class SaveError(RuntimeError):
    """model.py's save and load do not give back the model that was trained (or model.py's format
    refused it: raised by save or load, the message says what and the way forward)."""


def staging_dir(model_dir: Path) -> Path:
    return model_dir / f"{STAGING_PREFIX}{os.getpid()}"


def save(code: ModelCode, model_dir: Path, trained, meta: dict, probe: np.ndarray, threads: int) -> list[str]:
    """Write model.py's files and model.json; returns the file names committed.

    probe: a few training rows; the reloaded model must predict them exactly as `trained` does."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(model_dir)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    code.save(trained, staging)
    if (staging / META).exists():
        raise SaveError(f"model.py's save wrote {META}, a name the contract keeps for itself; use another name")
    if not any(staging.iterdir()):
        raise SaveError("model.py's save wrote no files into the directory it was given")
    answers = _check_round_trip(code, staging, trained, probe, threads)
    meta = {**meta, "framework": constant(code, "FRAMEWORK"), "offers": offers(code, trained, meta["task"], answers)}
    meta["files"] = file_digests(staging)
    (staging / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    names = sorted(p.name for p in staging.iterdir() if p.name != META) + [META]
    with commit_lock:
        for name in names:
            os.replace(staging / name, model_dir / name)
        staging.rmdir()
        committed.set()
    return names


def offers(code: ModelCode, estimator, task: str, answers: np.ndarray | None = None) -> dict:
    """What the model offers beyond predict, recorded in model.json and served at GET /metadata:
    probabilities (a classifier whose model.py has predict_proba and whose offers() does not
    deny them, "why" not), output_width (None: one value per row; k: a row of k values), output_types."""
    said = code.offers(estimator) if hasattr(code, "offers") else {}
    offered = bool(said.get("probabilities", True))
    probabilities = task == "classification" and hasattr(code, "predict_proba") and offered
    width = None if answers is None or answers.ndim < 2 else int(answers.shape[1])
    own = list(constant(code, "OUTPUT_TYPES"))  # a transform answers in its own types only
    types = own if hasattr(code, "transform") else list(dict.fromkeys(own + list(payloads.ACCEPT_TYPES)))
    return {**said, "probabilities": probabilities, "output_width": width, "output_types": types}


def _check_round_trip(code: ModelCode, staging: Path, trained, probe: np.ndarray, threads: int) -> np.ndarray:
    try:
        loaded = code.load(staging, threads)
    except SaveError:
        raise
    except Exception as exc:
        raise SaveError(f"model.py's load cannot read what its save wrote ({type(exc).__name__}: {exc})") from exc
    before, after = np.asarray(code.predict(trained, probe)), np.asarray(code.predict(loaded, probe))
    if before.shape != after.shape or not np.array_equal(before, after, equal_nan=before.dtype.kind == "f"):
        raise SaveError(
            "the model loaded back from what model.py's save wrote predicts differently from the trained model; "
            "save must keep everything predict needs"
        )
    return before


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(directory: Path) -> dict[str, str]:
    """{path inside directory: SHA-256} of every file in it but model.json."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.relative_to(directory).as_posix() != META)
    return {p.relative_to(directory).as_posix(): sha256(p) for p in files}


def check_digests(model_dir: Path, meta: dict) -> None:
    """Every file model.json lists has the digest it had at training, and MODEL_SHA256 (when set)
    names model.json's own digest; else ModelLoadError naming the file and both digests."""
    pinned = [d.strip().lower() for d in os.environ.get(PINNED, "").split(",") if d.strip()]
    if pinned:
        found = sha256(model_dir / META)
        if found not in pinned:
            raise ModelLoadError(
                f"{model_dir / META} has SHA-256 {found}, but {PINNED} allows only {', '.join(pinned)}: "
                "this is not the model the deployer pinned (or the pin is out of date)"
            )
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise ModelLoadError(f'{model_dir / META} lists no file digests ("files"): train the model again')
    for name, expected in files.items():
        path = model_dir / name
        found = sha256(path) if path.is_file() else "(no such file)"
        if found != expected:
            raise ModelLoadError(
                f"{path} has SHA-256 {found}, but training recorded {expected} in {META}: the file was changed "
                "or damaged after training; use the model.tar.gz the training job wrote"
            )


def discard_staging(model_dir: Path) -> None:
    shutil.rmtree(staging_dir(model_dir), ignore_errors=True)


class Model:
    """A trained model as served: model.py's model plus the label mapping from model.json."""

    def __init__(self, code: ModelCode, meta: dict, estimator):
        self.code = code
        self.meta = meta
        self.estimator = estimator
        self.task = meta["task"]
        self.n_features = int(meta["n_features"])
        self.classes = np.asarray(meta["classes"]) if self.task == "classification" else None
        self.feature_names = tuple(meta["feature_names"]) if meta.get("feature_names") else None
        self.feature_type = meta.get("feature_type", "number")
        # Asked of the loaded model (a model.json from before "offers" serves too); the width from training.
        self.offers = {**offers(code, estimator, self.task), "output_width": meta.get("offers", {}).get("output_width")}
        self.columns = meta.get("columns")  # a table model's columns (contract/tables.py), else None
        self.hooked = any(hasattr(code, hook) for hook in ("input_fn", "output_fn", "transform"))

    def decode(self, body: bytes, content_type: str, charset: str | None = None):
        """A request body (a built-in type) as this model's rows: a numpy matrix, or for a table model
        a pandas DataFrame by name (contract/tables.py; pandas is imported by table models only).
        payloads.PayloadError for a body that cannot be read."""
        if self.columns:
            from contract import tables

            return tables.decode(body, content_type, charset, self.columns)
        return payloads.decode(body, content_type, charset, self.feature_names, self.feature_type)

    @property
    def has_probabilities(self) -> bool:
        return self.offers["probabilities"]

    def no_probabilities(self) -> str:
        """Why this model gives no probabilities, for the 400 answering a request for them."""
        if self.classes is None:
            return "probabilities exist only for classification models; this one is a regression"
        if not hasattr(self.code, "predict_proba"):
            return "this model gives no probabilities: its model.py has no predict_proba"
        why = self.offers.get("why") or f"{type(self.estimator).__name__} has no predict_proba (model.py's offers())"
        return f"this model gives no probabilities: {why}"

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The user's labels (classification) or float values (regression)."""
        raw = np.asarray(self.code.predict(self.estimator, features))
        if len(raw) != len(features):
            raise PredictionError(f"model.py's predict gave {len(raw)} outputs for {len(features)} rows")
        if self.classes is None:
            return raw if raw.dtype in (np.float32, np.float64) else raw.astype(np.float64)
        codes = raw.astype(np.intp)
        if len(codes) and (codes.min() < 0 or codes.max() >= len(self.classes) or not np.array_equal(codes, raw)):
            raise PredictionError(f"model.py's predict must give class codes 0..{len(self.classes) - 1}")
        return self.classes[codes]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if not self.has_probabilities:
            raise RequestError(self.no_probabilities())
        return np.asarray(self.code.predict_proba(self.estimator, features))


class PredictionError(RuntimeError):
    """model.py's predict broke its side of the interface (a bug in model.py: answered with 500)."""


def load(code: ModelCode, model_dir: Path, threads: int = 1) -> Model:
    meta_path = model_dir / META
    if not meta_path.is_file():
        raise ModelLoadError(
            f"no {META} in {model_dir}: train a model first, or point the SageMaker model's "
            "ModelDataUrl at the model.tar.gz that a training job of this image wrote"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        task = meta["task"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{meta_path} is damaged ({exc}); train the model again") from exc
    check_digests(model_dir, meta)
    framework = constant(code, "FRAMEWORK")
    if meta.get("framework") != framework:
        raise ModelLoadError(
            f"the model in {model_dir} was trained with {meta.get('framework')!r}, "
            f"but this image serves {framework!r} models"
        )
    if task not in ("classification", "regression"):
        raise ModelLoadError(f"{meta_path} names an unknown task {task!r}")
    feature_type = constant(code, "FEATURE_TYPE")
    if meta.get("feature_type", "number") != feature_type:
        raise ModelLoadError(
            f"the model in {model_dir} was trained on {meta.get('feature_type', 'number')} features, but "
            f"model.py's FEATURE_TYPE is {feature_type!r}: train the model again with this model.py"
        )
    if bool(meta.get("columns")) != bool(constant(code, "COLUMNS")):
        raise ModelLoadError(
            f"the model in {model_dir} was trained "
            + ("on a table (COLUMNS), but model.py sets no COLUMNS" if meta.get("columns") else "without COLUMNS")
            + ", unlike this model.py: train the model again with this model.py"
        )
    try:
        estimator = code.load(model_dir, threads)
    except Exception as exc:
        raise load_failure(exc, model_dir) from exc
    return Model(code, meta, estimator)


# What a damaged or missing file raises as it is read (its digest matched: a file model.json does not list).
UNREADABLE = (OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile)


def load_failure(exc: Exception, model_dir: Path) -> ModelLoadError:
    """The truth about model.py's load raising exc: its format's own refusal (SaveError: what and the
    way forward), a library the image lacks, a damaged file, or else a bug, with its traceback logged."""
    if isinstance(exc, SaveError):
        return ModelLoadError(str(exc))
    if isinstance(exc, ImportError):
        return ModelLoadError(
            f"model.py's load could not import {exc.name or exc}: add it to requirements.txt, run `make venv` "
            f"(it pins it in requirements.lock) and build the image again ({type(exc).__name__}: {exc})"
        )
    if isinstance(exc, UNREADABLE):
        return ModelLoadError(
            f"could not load the model in {model_dir} ({type(exc).__name__}: {exc}); "
            "a file is missing, truncated or corrupt: train the model again"
        )
    return ModelLoadError(f"model.py's load raised {type(exc).__name__}: {exc}", traceback=True)
