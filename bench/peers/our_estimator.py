"""The benchmark's model for the servers that serve a scikit-learn estimator: the one our image trained.

The template's scikit-learn model.py saves the fitted estimator with skops (model.skops in
/opt/ml/model, beside the contract's model.json). This loads that file as model.py does,
skops trusting, beyond its own set, only the tree's node arrays, so the AWS-sample way,
BentoML and MLflow serve exactly the estimator ours serves, each in its own format. The
estimator predicts class codes 0..k-1 (or values, for regression); classes[code] is the label.
"""

import json
from pathlib import Path

import numpy as np

ARTIFACT = "model.skops"
META = "model.json"
TRUSTED = ["sklearn.tree._tree.Tree"]  # as the template's model.py (TRUSTED_TYPES)


def load(model_dir: Path | str):
    """(estimator, classes): classes is None for a regression model."""
    import skops.io

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / META).read_text(encoding="utf-8"))
    if meta.get("framework") != "scikit-learn" or not (model_dir / ARTIFACT).is_file():
        raise SystemExit(
            f"bench: {model_dir} holds no scikit-learn model saved with skops ({ARTIFACT}, "
            f"framework {meta.get('framework')!r}); the peers serve only the template's scikit-learn option"
        )
    estimator = skops.io.load(model_dir / ARTIFACT, trusted=TRUSTED)
    classes = np.asarray(meta["classes"]) if meta["task"] == "classification" else None
    return estimator, classes


def probe(n_features: int, rows: int = 20_000) -> np.ndarray:
    """Rows to compare predictions on, from the range the benchmark sends."""
    rng = np.random.default_rng(1)
    return np.round(rng.uniform(0.1, 9.9, size=(rows, n_features)), 1)


def check_same(what: str, predicted, estimator, features: np.ndarray) -> None:
    """`predicted` (what `what` answers for `features`) must be exactly what the estimator predicts."""
    expected = np.asarray(estimator.predict(features))
    predicted = np.asarray(predicted)
    if predicted.shape != expected.shape or not np.array_equal(predicted, expected):
        raise SystemExit(f"bench: {what} does not predict what our model.skops estimator predicts")
