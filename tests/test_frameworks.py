"""Each framework module on its own: the interface the shared code calls, and its fast paths."""

import importlib.util
import sys

import numpy as np
import pytest
from conftest import FRAMEWORKS, TEMPLATE

PROGRAM = TEMPLATE / "{{cookiecutter.algorithm_name}}" / "{{cookiecutter.algorithm_name}}"
INTERFACE = ("FRAMEWORK", "ARTIFACT", "ITERATION_METRICS", "task_of", "fit", "save", "load", "predict",
             "predict_proba", "versions")


def framework_module(name):
    sys.path.insert(0, str(PROGRAM))  # for `from hyperparameters import ...`
    try:
        spec = importlib.util.spec_from_file_location(f"framework_{name}", TEMPLATE / "templates" / "frameworks"
                                                      / name / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PROGRAM))


def defaults(name):
    import json

    schema = json.loads((TEMPLATE / "templates" / "frameworks" / name / "hyperparameters.json").read_text())
    return {key: spec["default"] for key, spec in schema.items()}


def data(task, n=600, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random(size=X.shape) < 0.02] = np.nan
    if task == "classification":
        return X, np.argmax(np.nan_to_num(X[:, :k]), axis=1)
    return X, np.nan_to_num(X) @ rng.normal(size=d)


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("task, k", [("classification", 3), ("classification", 2), ("regression", 0)])
def test_fit_save_load_predict(name, task, k, tmp_path):
    framework = framework_module(name)
    assert all(hasattr(framework, attribute) for attribute in INTERFACE)
    X, y = data(task, k=max(k, 2))
    estimator = framework.fit(defaults(name), task=task, n_classes=k, X=X[:500], y=y[:500],
                              X_valid=X[500:], y_valid=y[500:], threads=1)
    framework.save(estimator, tmp_path / framework.ARTIFACT)
    loaded = framework.load(tmp_path / framework.ARTIFACT, 1)
    first, second = framework.predict(estimator, X), framework.predict(loaded, X)
    assert np.array_equal(first, second)
    if task == "classification":
        assert set(np.unique(first)) <= set(range(k))
        assert np.mean(first[500:] == y[500:]) > 0.7
        probabilities = framework.predict_proba(loaded, X)
        assert probabilities.shape == (len(X), k)
        assert np.allclose(probabilities.sum(axis=1), 1)
        assert np.array_equal(np.argmax(probabilities, axis=1), first)
    else:
        assert first.shape == (len(X),)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("rows", [1, 7, 3000])  # walked in Python, then in numpy
@pytest.mark.parametrize("max_depth", [None, 4])  # hundreds of nodes; at most 31 (decided node by node)
def test_scikit_learn_tree_arrays_predict_exactly_as_scikit_learn(kind, rows, max_depth):
    """model.npz is walked without scikit-learn: the answers must be scikit-learn's, NaN included."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    framework = framework_module("scikit-learn")
    task = "classification" if kind == "classifier" else "regression"
    X, y = data(task, n=3000, d=8)  # 2% NaN: the tree learns where missing values go
    model_class = DecisionTreeClassifier if kind == "classifier" else DecisionTreeRegressor
    estimator = model_class(max_depth=max_depth, random_state=0).fit(X, y)
    tree = framework.Tree.from_estimator(estimator)
    assert (len(tree.left) <= framework.SMALL_TREE) == (max_depth is not None)
    probe = np.random.default_rng(5).normal(size=(rows, 8)) * 3
    probe[np.random.default_rng(6).random(size=probe.shape) < 0.1] = np.nan
    ours = framework.predict(tree, probe)
    if kind == "classifier":
        assert np.array_equal(estimator.classes_[ours], estimator.predict(probe))
        assert np.allclose(framework.predict_proba(tree, probe), estimator.predict_proba(probe))
    else:
        assert np.array_equal(ours, estimator.predict(probe))


def test_scikit_learn_serving_does_not_import_scikit_learn(tmp_path):
    import subprocess

    framework = framework_module("scikit-learn")
    X, y = data("classification")
    tree = framework.fit(defaults("scikit-learn"), task="classification", n_classes=3, X=X, y=y, X_valid=None,
                         y_valid=None, threads=1)
    framework.save(tree, tmp_path / framework.ARTIFACT)
    code = (
        "import sys, numpy as np; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import model;"
        "t = model.load(sys.argv[3], 1); model.predict(t, np.zeros((2, 6)));"
        "assert not any(m.startswith('sklearn') for m in sys.modules), 'sklearn was imported'"
    )
    folder = TEMPLATE / "templates" / "frameworks" / "scikit-learn"
    result = subprocess.run([sys.executable, "-c", code, str(folder), str(PROGRAM), str(tmp_path / "model.npz")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
