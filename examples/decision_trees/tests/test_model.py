"""YOURS: what is true of this project's own model and sample data (the contract's tests are the others).

Change these when you change the model or the data in local_test/: they hold the expectations
that only you can state (the classes, the accuracy to beat). The rest of tests/ follows
model.py, hyperparameters.json and local_test/ by itself.
"""

import json
import re

from conftest import run_train

SAMPLE_CLASSES = ["setosa", "versicolor", "virginica"]  # the labels of local_test's iris data
MIN_VALIDATION_ACCURACY = 0.85


def test_the_sample_model_learns_the_sample_data(opt_ml):
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((opt_ml / "model" / "model.json").read_text())
    assert meta["classes"] == SAMPLE_CLASSES
    accuracy = float(re.search(r"^validation:accuracy=(\S+)$", result.stdout, re.M).group(1))
    assert accuracy >= MIN_VALIDATION_ACCURACY
