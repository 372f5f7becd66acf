"""The model directory: the framework's own artifact plus model.json, never half-written.

`train` writes into a hidden staging folder inside /opt/ml/model (same filesystem, so
renames are atomic) and renames model.json into place last; `serve` refuses a folder
without it. A failed or stopped job therefore leaves no model that looks complete.
"""

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np

META = "model.json"
STAGING_PREFIX = ".staging-"
# Held while files are renamed into place, so a SIGTERM cannot cut a commit in half.
commit_lock = threading.Lock()
committed = threading.Event()  # set, under the lock, once a model is completely in place


class ModelLoadError(RuntimeError):
    """/opt/ml/model does not hold a model this image can serve; the message says why."""


def staging_dir(model_dir: Path) -> Path:
    return model_dir / f"{STAGING_PREFIX}{os.getpid()}"


def save(model_dir: Path, estimator, meta: dict) -> list[str]:
    """Write the artifact and model.json; returns the file names committed."""
    import model as framework

    model_dir.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(model_dir)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    framework.save(estimator, staging / framework.ARTIFACT)
    meta = {**meta, "framework": framework.FRAMEWORK, "artifact": framework.ARTIFACT}
    (staging / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    names = sorted(p.name for p in staging.iterdir() if p.name != META) + [META]
    with commit_lock:
        for name in names:
            os.replace(staging / name, model_dir / name)
        staging.rmdir()
        committed.set()
    return names


def discard_staging(model_dir: Path) -> None:
    shutil.rmtree(staging_dir(model_dir), ignore_errors=True)


class Model:
    """A trained model as served: the framework's estimator plus the label mapping."""

    def __init__(self, meta: dict, estimator):
        import model as framework

        self.framework = framework
        self.meta = meta
        self.estimator = estimator
        self.task = meta["task"]
        self.n_features = int(meta["n_features"])
        self.classes = np.asarray(meta["classes"]) if self.task == "classification" else None

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The user's labels (classification) or float values (regression)."""
        raw = self.framework.predict(self.estimator, features)
        if self.classes is None:
            raw = np.asarray(raw)
            return raw if raw.dtype in (np.float32, np.float64) else raw.astype(np.float64)
        return self.classes[np.asarray(raw, dtype=np.intp)]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if self.classes is None:
            raise ValueError("probabilities exist only for classification models")
        return self.framework.predict_proba(self.estimator, features)


def load(model_dir: Path, threads: int = 1) -> Model:
    # The framework (a heavy import) is loaded only when needed, so bad input fails fast.
    import model as framework

    meta_path = model_dir / META
    if not meta_path.is_file():
        raise ModelLoadError(
            f"no {META} in {model_dir}: train a model first, or point the SageMaker model's "
            "ModelDataUrl at the model.tar.gz that a training job of this image wrote"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        task, artifact = meta["task"], meta["artifact"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{meta_path} is damaged ({exc}); train the model again") from exc
    if meta.get("framework") != framework.FRAMEWORK:
        raise ModelLoadError(
            f"the model in {model_dir} was trained with {meta.get('framework')!r}, "
            f"but this image serves {framework.FRAMEWORK!r} models"
        )
    if task not in ("classification", "regression"):
        raise ModelLoadError(f"{meta_path} names an unknown task {task!r}")
    try:
        estimator = framework.load(model_dir / artifact, threads)
    except Exception as exc:
        raise ModelLoadError(
            f"could not load {model_dir / artifact} ({type(exc).__name__}: {exc}); "
            "the file is missing, truncated or corrupt: train the model again"
        ) from exc
    return Model(meta, estimator)
