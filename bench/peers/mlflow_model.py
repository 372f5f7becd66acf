"""Save the benchmark's model as an MLflow model (scikit-learn flavour) for `mlflow models serve`.

    python mlflow_model.py MODEL_DIR OUT_DIR

The estimator is the one our image trained, loaded from its model.skops (our_estimator.py),
so MLflow serves exactly the estimator the others serve. It predicts class codes (the
flavour's output). The saved model is loaded back as `mlflow models serve` loads it (pyfunc)
and checked to predict what the estimator predicts.
"""

import shutil
import sys

import mlflow.pyfunc
import mlflow.sklearn
import our_estimator
import pandas as pd


def main(model_dir: str, out_dir: str) -> None:
    estimator, _ = our_estimator.load(model_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    # MLflow's default format (skops), trusting the types our model.py trusts.
    mlflow.sklearn.save_model(estimator, out_dir, skops_trusted_types=our_estimator.TRUSTED)
    features = our_estimator.probe(estimator.n_features_in_)
    served = mlflow.pyfunc.load_model(out_dir).predict(pd.DataFrame(features))
    our_estimator.check_same("the MLflow model", served, estimator, features)


if __name__ == "__main__":
    main(*sys.argv[1:3])
