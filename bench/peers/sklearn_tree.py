"""The benchmark's model as a scikit-learn estimator, for the servers that serve one.

The template saves its fitted tree as plain arrays (model.npz) and serves it with numpy alone.
The AWS-sample way, BentoML and MLflow serve a scikit-learn estimator instead, so this rebuilds
that same fitted DecisionTreeClassifier/Regressor from the arrays (as scikit-learn's own Tree
state) and checks that it predicts exactly what the template's loader predicts.
"""

import sys
from pathlib import Path

import numpy as np


def load(program_dir: Path | str, model_dir: Path | str):
    """(estimator, classes): the scikit-learn estimator predicts class codes, classes[code] is the label."""
    sys.path.insert(0, str(program_dir))
    import model_artifact

    model = model_artifact.load(Path(model_dir))
    estimator = _estimator(model.estimator, model.n_features)
    _check(estimator, model)
    return estimator, model.classes


def _estimator(tree, n_features: int):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from sklearn.tree._tree import NODE_DTYPE, Tree

    count = len(tree.left)
    nodes = np.zeros(count, dtype=NODE_DTYPE)
    nodes["left_child"], nodes["right_child"] = tree.left, tree.right
    nodes["feature"], nodes["threshold"] = tree.feature, tree.threshold
    nodes["missing_go_to_left"] = tree.missing_left
    nodes["n_node_samples"], nodes["weighted_n_node_samples"] = 1, 1.0  # not used by predict
    depth = _depth(tree.left, tree.right)
    width = tree.value.shape[1]
    if tree.classifier:
        estimator = DecisionTreeClassifier()
        estimator.classes_, estimator.n_classes_ = np.arange(width), width
    else:
        estimator = DecisionTreeRegressor()
    sk_tree = Tree(n_features, np.array([width if tree.classifier else 1], dtype=np.intp), 1)
    sk_tree.__setstate__(
        {"max_depth": depth, "node_count": count, "nodes": nodes, "values": tree.value[:, None, :].copy()}
    )
    estimator.tree_ = sk_tree
    estimator.n_features_in_ = estimator.max_features_ = n_features
    estimator.n_outputs_ = 1
    return estimator


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    depth, frontier, deepest = 0, [0], 0
    while frontier:
        deepest = depth
        frontier = [c for n in frontier for c in (left[n], right[n]) if c >= 0]
        depth += 1
    return deepest


def _check(estimator, model) -> None:
    rng = np.random.default_rng(1)
    X = np.round(rng.uniform(0.1, 9.9, size=(20_000, model.n_features)), 1)
    ours = model.predict(X)
    theirs = estimator.predict(X)
    if model.classes is not None:
        theirs = model.classes[theirs.astype(np.intp)]
    if not np.array_equal(ours, theirs):
        raise SystemExit("the rebuilt scikit-learn tree does not predict what the template's model predicts")
