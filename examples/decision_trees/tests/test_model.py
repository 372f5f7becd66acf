# Yours: make update never changes this file (pyproject.toml's [tool.cruft] skip lists your files).
"""What should be true of this project's own model on its own sample data.

The other tests check the contract, and take their rows, feature count and task from
local_test/ and the trained model by themselves. This file holds the expectations only you
can state: as written, that the model trained on local_test's data learns something (it
beats always answering the most common class, or the mean); tighten MIN_SKILL, or add
your own checks, as your model earns them.
"""

import json
import re

import numpy as np
from conftest import FEATURE_TYPE, TEST_DIR

MIN_SKILL = 0.0  # how far the model must beat the trivial answer (accuracy points, or R²)


def sample_labels(channel: str) -> np.ndarray:
    from conftest import COLUMNS, LABEL

    from contract import dataset

    folder = TEST_DIR / "input" / "data" / channel
    return dataset.read_channel(channel, folder, None, FEATURE_TYPE, LABEL, COLUMNS).labels


def scored_channel() -> str:
    """The channel the metrics describe best: validation when the sample data has one."""
    return "validation" if (TEST_DIR / "input" / "data" / "validation").is_dir() else "train"


def metric(log: str, name: str) -> float:
    return float(re.search(rf"^{scored_channel()}:{name}=(\S+)$", log, re.M).group(1))


def test_the_model_learns_the_sample_data(trained, trained_log):
    """trained: /opt/ml after the sample job (local_test/test_dir); trained_log: what train printed."""
    meta = json.loads((trained / "model" / "model.json").read_text())
    if meta["task"] == "classification":
        assert len(meta["classes"]) == len(np.unique(sample_labels("training")))
        _, counts = np.unique(sample_labels(scored_channel().replace("train", "training")), return_counts=True)
        assert metric(trained_log, "accuracy") > counts.max() / counts.sum() + MIN_SKILL, trained_log
    else:
        assert metric(trained_log, "r2") > MIN_SKILL, trained_log
