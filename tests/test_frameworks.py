"""Each framework's model.py on its own: it provides the interface (contract/interface.py) and round-trips."""

import importlib.util
import sys

import numpy as np
import pytest
from conftest import DEFAULTS, FRAMEWORKS, TEMPLATE


def framework_module(name, rendered):
    """The rendered project's model.py, checked, and its contract's interface module. Each framework's
    render has its own contract (only its files, some lines by framework), so the last one's goes."""
    project = rendered(framework=name)
    for module in [m for m in sys.modules if m == "contract" or m.startswith("contract.")]:
        del sys.modules[module]
    folders = [str(project / DEFAULTS["algorithm_name"]), str(project)]  # for `from contract import ...`
    sys.path[:0] = folders
    try:
        spec = importlib.util.spec_from_file_location(f"framework_{name}", folders[0] + "/model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from contract import interface

        return interface.check(module), interface
    finally:
        for folder in folders:
            sys.path.remove(folder)


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
def test_fit_save_load_predict(rendered, name, task, k, tmp_path):
    framework, interface = framework_module(name, rendered)
    X, y = data(task, k=max(k, 2))
    job = interface.Job(task=task, n_classes=k, threads=1)
    estimator = framework.fit(defaults(name), interface.Data(X[:500], y[:500]), interface.Data(X[500:], y[500:]), job)
    framework.save(estimator, tmp_path)
    loaded = framework.load(tmp_path, 1)
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


# A hyperparameter added to the schema reaches the library by its own name, with no code.
PASSED_THROUGH = {
    "scikit-learn": ("max_features", 2, lambda model: model.max_features),
    "xgboost": ("colsample_bylevel", 0.5,  # exact in float32, as XGBoost keeps it
                lambda model: __import__("json").loads(model.booster.save_config())["learner"]["gradient_booster"]
                ["tree_train_param"]["colsample_bylevel"]),
    "lightgbm": ("extra_trees", True, lambda model: model.booster.params["extra_trees"]),
}


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_hyperparameter_added_to_the_schema_reaches_the_library(rendered, name):
    framework, interface = framework_module(name, rendered)
    key, value, read = PASSED_THROUGH[name]
    X, y = data("classification")
    model = framework.fit({**defaults(name), key: value}, interface.Data(X, y), None,
                          interface.Job(task="classification", n_classes=3, threads=1))
    assert str(read(model)).lower() == str(value).lower()  # e.g. XGBoost's config holds "0.5"
