"""Keeps only the framework files of the chosen framework; the table below is all that varies.

Every other file of the project is the same for every framework (or differs through the
partials in templates/frameworks/, or a few lines under a Jinja condition on cookiecutter.framework).
Runs in the rendered project folder.
"""

import json
import sys
from pathlib import Path

# Files that only some frameworks use, by path in the project ({program}: the program folder),
# with the tests of what they hold: a render holds no test of another framework's feature.
FRAMEWORK_FILES = {
    "{program}/contract/boosting.py": ("xgboost", "lightgbm"),  # objective and metric choices of boosting libraries
    "{program}/contract/checkpoints.py": ("xgboost", "lightgbm"),  # a round-by-round fit's checkpoints
    "tests/test_checkpoints.py": ("xgboost", "lightgbm"),
    "{program}/contract/xgboost_collective.py": ("xgboost",),  # XGBoost's training across hosts
    "tests/test_xgboost_collective.py": ("xgboost",),
    "{program}/contract/lightgbm_network.py": ("lightgbm",),  # LightGBM's training across hosts
    "tests/test_lightgbm_network.py": ("lightgbm",),
    "{program}/contract/sklearn_files.py": ("scikit-learn",),  # skops (its errors' ways forward) or joblib
    "tests/test_sklearn_files.py": ("scikit-learn",),
}


def prune(project: Path, program: str, framework: str) -> list[str]:
    removed = []
    for path, frameworks in FRAMEWORK_FILES.items():
        if framework not in frameworks:
            (project / path.format(program=program)).unlink()
            removed.append(path)
    return removed


if __name__ == "__main__":
    ANSWERS = json.loads(
        r"""{{ {"algorithm_name": cookiecutter.algorithm_name, "framework": cookiecutter.framework} | tojson }}"""
    )
    prune(Path.cwd(), ANSWERS["algorithm_name"], ANSWERS["framework"])
    sys.exit(0)
