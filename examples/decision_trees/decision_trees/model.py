"""scikit-learn decision tree: what this framework adds to the shared container code.

The shared code reads the data, types the hyperparameters, maps labels to class codes
0..k-1 and back, and runs the HTTP server. This module only fits, saves, loads and
predicts.

scikit-learn fits the tree; the fitted tree is saved as its plain arrays (`model.npz`:
split features, thresholds, children, leaf values), which load with numpy alone and
allow_pickle=False. Loading therefore never runs code from the file (unlike pickle or
joblib), and `serve` never imports scikit-learn: a worker is ready in a fraction of the
time. Prediction walks the same tree with the same rules as scikit-learn's own
DecisionTree*.predict (float32 features, `<=` goes left, NaN follows the learnt
missing-value direction); the template's tests check that the answers are identical.
"""

from pathlib import Path

import numpy as np

from hyperparameters import HyperparameterError

FRAMEWORK = "scikit-learn"
ARTIFACT = "model.npz"
ITERATION_METRICS: tuple[str, ...] = ()  # a tree is fitted in one go: no per-iteration metrics
CRITERIA = {
    "classification": ("gini", "entropy", "log_loss"),
    "regression": ("squared_error", "friedman_mse", "absolute_error", "poisson"),
}
LEAF = -1  # scikit-learn's marker for "no child"
SMALL_BATCH = 16  # up to this many rows, walking the tree in Python beats numpy's per-call cost
SMALL_TREE = 64  # up to this many nodes, one pass over all rows per node beats a walk level by level


def task_of(params: dict) -> str | None:
    return None if params["task"] == "auto" else params["task"]


def fit(params, *, task, n_classes, X, y, X_valid, y_valid, threads):  # noqa: ARG001 (one thread)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    criterion = params["criterion"]
    if criterion == "auto":
        criterion = CRITERIA[task][0]
    elif criterion not in CRITERIA[task]:
        raise HyperparameterError(
            f"hyperparameter criterion={criterion!r} does not fit a {task} task; "
            f"use one of {', '.join(CRITERIA[task])} (or auto)"
        )
    estimator_class = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    estimator = estimator_class(
        criterion=criterion,
        max_depth=params["max_depth"],
        min_samples_split=params["min_samples_split"],
        min_samples_leaf=params["min_samples_leaf"],
        max_leaf_nodes=params["max_leaf_nodes"],
        min_impurity_decrease=params["min_impurity_decrease"],
        ccp_alpha=params["ccp_alpha"],
        random_state=params["random_state"],
    )
    return Tree.from_estimator(estimator.fit(X, y))


class Tree:
    """A fitted decision tree as arrays: what scikit-learn's Tree holds, without scikit-learn."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.left = arrays["left"].astype(np.intp)
        self.right = arrays["right"].astype(np.intp)
        self.feature = arrays["feature"].astype(np.intp)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.missing_left = arrays["missing_left"].astype(bool)
        self.value = arrays["value"].astype(np.float64)  # (nodes, classes) or (nodes, 1)
        self.classifier = bool(arrays["classifier"])
        # Plain lists for the per-row walk of small requests.
        self._nodes = list(
            zip(self.left.tolist(), self.right.tolist(), self.feature.tolist(), self.threshold.tolist(),
                self.missing_left.tolist(), strict=True)
        )  # fmt: skip

    @classmethod
    def from_estimator(cls, estimator) -> "Tree":
        tree = estimator.tree_
        missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
        return cls(
            {
                "left": tree.children_left,
                "right": tree.children_right,
                "feature": tree.feature,
                "threshold": tree.threshold,
                "missing_left": missing,
                "value": tree.value[:, 0, :],  # one output
                "classifier": np.array(hasattr(estimator, "classes_")),
            }
        )

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("left", "right", "feature", "threshold", "missing_left", "value")
        return {**{n: getattr(self, n) for n in names}, "classifier": np.array(self.classifier)}

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """The leaf each row ends in. Features are compared as float32, as scikit-learn does."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if len(X) <= SMALL_BATCH:
            return np.array([self._leaf(row) for row in X.tolist()], dtype=np.intp)
        if len(self.left) <= SMALL_TREE:
            return self._leaves_by_node(X)
        flat, width = X.ravel(), X.shape[1]  # one flat gather per level is cheaper than X[rows, columns]
        node = np.zeros(len(X), dtype=np.intp)
        active = np.flatnonzero(self.left[node] != LEAF)
        while active.size:
            here = node[active]
            x = flat[active * width + self.feature[here]].astype(np.float64)
            go_left = np.where(np.isnan(x), self.missing_left[here], x <= self.threshold[here])
            node[active] = np.where(go_left, self.left[here], self.right[here])
            active = active[self.left[node[active]] != LEAF]
        return node

    def _leaves_by_node(self, X: np.ndarray) -> np.ndarray:
        """Node by node, the rows that reach it as a mask over all rows: no gathers (3x faster on small trees)."""
        columns = np.ascontiguousarray(X.T)
        has_nan = bool(np.isnan(columns).any())
        leaves = np.empty(len(X), dtype=np.intp)
        pending = [(0, np.ones(len(X), dtype=bool))]
        while pending:
            node, rows = pending.pop()
            if self.left[node] == LEAF:
                leaves[rows] = node
                continue
            x = columns[self.feature[node]]
            go_left = x <= self.threshold[node]  # a float64 scalar: compared as float64, as in the walk
            if has_nan and self.missing_left[node]:
                go_left |= np.isnan(x)
            pending.append((self.left[node], rows & go_left))
            pending.append((self.right[node], rows & ~go_left))
        return leaves

    def _leaf(self, row: list[float]) -> int:
        node = 0
        left, right, feature, threshold, missing_left = self._nodes[0]
        while left != LEAF:
            x = row[feature]
            node = (left if missing_left else right) if x != x else (left if x <= threshold else right)
            left, right, feature, threshold, missing_left = self._nodes[node]
        return node


def save(estimator: Tree, path: Path) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a str path
        np.savez(f, **estimator.arrays())


def load(path: Path, threads: int) -> Tree:  # noqa: ARG001 (prediction is single-threaded)
    with np.load(path, allow_pickle=False) as arrays:
        return Tree({name: arrays[name] for name in arrays.files})


def predict(estimator: Tree, X: np.ndarray) -> np.ndarray:
    values = estimator.value[estimator.leaves(X)]
    return np.argmax(values, axis=1) if estimator.classifier else values[:, 0]


def predict_proba(estimator: Tree, X: np.ndarray) -> np.ndarray:
    values = estimator.value[estimator.leaves(X)]
    totals = values.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    return values / totals


def versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__}
