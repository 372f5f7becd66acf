"""Keeps only the framework files of the chosen framework; the table below is all that varies.

Every other file of the project is the same for every framework (or differs through the
partials in templates/frameworks/, or a few lines under a Jinja condition on cookiecutter.framework).
Runs in the rendered project folder.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Files that only some frameworks use, by path in the project,
# with the tests of what they hold: a render holds no test of another framework's feature.
FRAMEWORK_FILES = {
    "contract/boosting.py": ("xgboost", "lightgbm"),  # objective and metric choices of boosting libraries
    "contract/checkpoints.py": ("xgboost", "lightgbm"),  # a round-by-round fit's checkpoints
    "tests/test_checkpoints.py": ("xgboost", "lightgbm"),
    "contract/xgboost_collective.py": ("xgboost",),  # XGBoost's training across hosts
    "tests/test_xgboost_collective.py": ("xgboost",),
    "contract/lightgbm_network.py": ("lightgbm",),  # LightGBM's training across hosts
    "tests/test_lightgbm_network.py": ("lightgbm",),
    "contract/sklearn_files.py": ("scikit-learn",),  # skops (its errors' ways forward) or joblib
    "tests/test_sklearn_files.py": ("scikit-learn",),
}


# A link at contract/'s old place in the program folder (before it moved beside it), to its
# hyperparameters.py: `make update` of a project made before the move has cruft render the project's
# template commit, then the newest, in one process, and the first one's local_extensions.py (which
# Python keeps) reads hyperparameters.py there. It is no file of the project: removed here.
OLD_CONTRACT = "contract"  # in the program folder


def prune(project: Path, framework: str) -> list[str]:
    removed = []
    for path, frameworks in FRAMEWORK_FILES.items():
        if framework not in frameworks:
            (project / path).unlink()
            removed.append(path)
    return removed


if __name__ == "__main__":
    ANSWERS = json.loads(
        r"""{{ {"algorithm_name": cookiecutter.algorithm_name, "framework": cookiecutter.framework} | tojson }}"""
    )
    shutil.rmtree(Path.cwd() / ANSWERS["algorithm_name"] / OLD_CONTRACT)
    prune(Path.cwd(), ANSWERS["framework"])
    # docs/'s generated tables (hyperparameters, environment, errors), by the code `make docs` runs,
    # from this render's own contract: only the files its framework kept. Standard library only.
    subprocess.run([sys.executable, "-B", "contract/docs.py", "docs"], check=True)
    sys.exit(0)
