"""Save the benchmark's model as an MLflow model (scikit-learn flavour) for `mlflow models serve`.

    python mlflow_model.py PROGRAM_DIR MODEL_DIR OUT_DIR

The estimator is the template's fitted tree as scikit-learn's (sklearn_tree.py), so MLflow
serves exactly the tree the others serve. It predicts class codes (the flavour's output).
"""

import shutil
import sys

import mlflow.sklearn
import sklearn_tree


def main(program_dir: str, model_dir: str, out_dir: str) -> None:
    estimator, _ = sklearn_tree.load(program_dir, model_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    # MLflow's default format (skops), trusting the types a decision tree is made of.
    trusted = ["sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",
               "sklearn.tree._tree.Tree"]  # fmt: skip
    mlflow.sklearn.save_model(estimator, out_dir, skops_trusted_types=trusted)


if __name__ == "__main__":
    main(*sys.argv[1:4])
