"""Ordinary user models, other than the README's worked changes, each applied to a fresh render:
the generated project's own `make test` must pass unedited. A generated test that assumes
something of the model the user may change (probabilities, float32-exact answers, narrow rows,
no blank cells, hyperparameters that name no columns) fails one of these.

Only the user's files change (model.py, hyperparameters.json, local_test/, tests/test_model.py,
requirements.txt; docs/hyperparameters.md by `make docs`): git checks that, as in test_worked_examples.py.
"""

import ast
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import REPORT, render, run, tool_env
from test_worked_examples import git, summary, users_files


@dataclass
class Data:
    """The sample job's data: (label, features) rows split into training, validation and the payload."""

    labels: np.ndarray
    X: np.ndarray
    names: list[str] | None = None  # a header line (label first) when given
    hyperparameters: dict = field(default_factory=dict)  # the sample job's


def cell(value) -> str:
    """A CSV cell: a blank for NaN, numbers in 6 significant digits."""
    if not isinstance(value, float):
        return str(value)
    return "" if np.isnan(value) else format(value, ".6g")


def write_sample(project: Path, data: Data) -> None:
    """Replace local_test's iris sample with this data: 70% training, 20% validation, the rest the payload."""
    n = len(data.labels)
    cut1, cut2 = int(n * 0.7), int(n * 0.9)
    root = project / "local_test" / "test_dir" / "input"
    for channel, rows in (("training", slice(0, cut1)), ("validation", slice(cut1, cut2))):
        shutil.rmtree(root / "data" / channel)
        (root / "data" / channel).mkdir()
        lines = [",".join(data.names)] if data.names else []
        pairs = zip(data.labels[rows].tolist(), data.X[rows].tolist(), strict=True)
        lines += [",".join(cell(v) for v in [y, *x]) for y, x in pairs]
        (root / "data" / channel / "sample.csv").write_text("\n".join(lines) + "\n")
    payload = [",".join(cell(v) for v in x) for x in data.X[cut2:].tolist()]
    (project / "local_test" / "payload.csv").write_text("\n".join(payload) + "\n")
    hyperparameters = {key: str(value) for key, value in data.hyperparameters.items()}
    (root / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2) + "\n")


def edit_function(path: Path, name: str, code: str | None) -> None:
    """Replace model.py's top-level function (or assignment) `name` with code; None deletes it."""
    source = path.read_text()
    node = next(n for n in ast.parse(source).body
                if getattr(n, "name", None) == name
                or isinstance(n, ast.Assign) and any(getattr(t, "id", None) == name for t in n.targets))  # fmt: skip
    lines = source.splitlines(keepends=True)
    path.write_text("".join(lines[: node.lineno - 1]) + (code or "") + "".join(lines[node.end_lineno :]))


def regression(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 3, size=(n, d)).round(3)
    y = (X @ rng.normal(size=d) + 0.5 * np.sin(X[:, 0]) + 20 + rng.normal(0, 0.1, size=n)).round(4)
    return y, X


def classes(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(k, d))
    y = rng.integers(0, k, size=n)
    return np.array([f"kind_{i}" for i in range(k)])[y], (centers[y] + rng.normal(size=(n, d))).round(3)


LINEAR_SVC = '''def build(params: dict, job: Job):
    """Scaled features, then a linear support vector machine (no probabilities)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC, LinearSVR

    final = LinearSVC if job.task == "classification" else LinearSVR
    return make_pipeline(StandardScaler(), final(C=params["C"], max_iter=params["max_iter"], random_state=0))
'''
SVC_SCHEMA = {
    "task": {"type": "str", "default": "auto", "choices": ["auto", "classification", "regression"],
             "help": "auto: from the labels"},
    "C": {"type": "float", "default": 1.0, "min": 0.0001, "max": 10000.0, "help": "inverse regularisation"},
    "max_iter": {"type": "int", "default": 5000, "min": 10, "max": 100000, "help": "solver iterations"},
}

KNN = '''def build(params: dict, job: Job):
    """k nearest neighbours, distance-weighted."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    final = KNeighborsClassifier if job.task == "classification" else KNeighborsRegressor
    return final(n_neighbors=params["n_neighbors"], weights="distance")
'''
KNN_SCHEMA = {
    "task": {"type": "str", "default": "auto", "choices": ["auto", "classification", "regression"],
             "help": "auto: from the labels"},
    "n_neighbors": {"type": "int", "default": 5, "min": 1, "max": 1000, "help": "neighbours that vote"},
}

HIST = '''def build(params: dict, job: Job):
    """Histogram gradient boosting: missing values go down a learned side of each split."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    final = HistGradientBoostingClassifier if job.task == "classification" else HistGradientBoostingRegressor
    return final(max_iter=params["max_iter"], random_state=0)
'''
HIST_SCHEMA = {
    "task": {"type": "str", "default": "auto", "choices": ["auto", "classification", "regression"],
             "help": "auto: from the labels"},
    "max_iter": {"type": "int", "default": 50, "min": 1, "max": 10000, "help": "boosting iterations"},
}

# A hyperparameter that names columns of the training header: those are left out of the features.
DROP_COLUMNS = '''def build(params: dict, job: Job, dropped: list[int]):
    """The tree, without the columns at the indices dropped."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    final = DecisionTreeClassifier if job.task == "classification" else DecisionTreeRegressor
    tree = final(max_depth=params["max_depth"], random_state=0)
    return make_pipeline(ColumnTransformer([("dropped", "drop", dropped)], remainder="passthrough"), tree)


def fit(params: dict, train: Data, validation: Data | None, job: Job):  # noqa: ARG001
    """drop_columns names columns of the training header: the data needs one."""
    names = [n.strip() for n in params["drop_columns"].split(",") if n.strip()]
    missing = [n for n in names if n not in (train.feature_names or ())]
    if missing:
        raise HyperparameterError(f"drop_columns names {', '.join(missing)}, not a column of the training header "
                                  f"({', '.join(train.feature_names or ['none'])})")
    return build(params, job, [train.feature_names.index(n) for n in names]).fit(train.X, train.y)
'''
DROP_SCHEMA = {
    "task": {"type": "str", "default": "auto", "choices": ["auto", "classification", "regression"],
             "help": "auto: from the labels"},
    "drop_columns": {"type": "str", "default": "", "help": "header names of columns to leave out, comma-separated"},
    "max_depth": {"type": "int", "default": 6, "min": 1, "max": 100, "help": "deepest the tree may grow"},
}


def linear_svc(project: Path, program: str) -> None:
    model = project / program / "model.py"
    edit_function(model, "build", LINEAR_SVC)
    edit_function(model, "tree_options", None)
    edit_function(model, "OWN_HYPERPARAMETERS", 'OWN_HYPERPARAMETERS = ("task",)  # task_of reads it\n')
    (project / program / "hyperparameters.json").write_text(json.dumps(SVC_SCHEMA, indent=2) + "\n")
    labels, X = classes(400, 6, 4, seed=1)
    write_sample(project, Data(labels, X, hyperparameters={"C": 0.5}))


def knn_regressor(project: Path, program: str) -> None:
    model = project / program / "model.py"
    edit_function(model, "build", KNN)
    edit_function(model, "TRUSTED_TYPES", 'TRUSTED_TYPES = ["sklearn.metrics._dist_metrics.EuclideanDistance64", '
                                          '"sklearn.neighbors._kd_tree.KDTree"]\n')  # skops asks for them by name
    edit_function(model, "tree_options", None)
    edit_function(model, "OWN_HYPERPARAMETERS", 'OWN_HYPERPARAMETERS = ("task",)  # task_of reads it\n')
    (project / program / "hyperparameters.json").write_text(json.dumps(KNN_SCHEMA, indent=2) + "\n")
    y, X = regression(500, 8, seed=2)
    write_sample(project, Data(y, X, ["target", *(f"x{i}" for i in range(8))], {"n_neighbors": 7}))


def wide_rows(project: Path, program: str) -> None:
    labels, X = classes(600, 40, 6, seed=3)  # 40 features, 60 payload rows, 6 classes
    write_sample(project, Data(labels, X, hyperparameters={"max_depth": 8}))


def blank_cells(project: Path, program: str) -> None:
    model = project / program / "model.py"
    edit_function(model, "build", HIST)
    trusted = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"  # skops asks for it by name
    edit_function(model, "TRUSTED_TYPES", f"TRUSTED_TYPES = [{trusted!r}]\n")
    edit_function(model, "tree_options", None)
    edit_function(model, "OWN_HYPERPARAMETERS", 'OWN_HYPERPARAMETERS = ("task",)  # task_of reads it\n')
    (project / program / "hyperparameters.json").write_text(json.dumps(HIST_SCHEMA, indent=2) + "\n")
    labels, X = classes(500, 5, 3, seed=4)
    X = np.where(np.random.default_rng(4).random(X.shape) < 0.1, np.nan, X)  # a tenth of the cells blank
    write_sample(project, Data(labels, X, ["kind", *(f"m{i}" for i in range(5))], {"max_iter": 30}))


def named_columns(project: Path, program: str) -> None:
    model = project / program / "model.py"
    edit_function(model, "fit", None)  # the new fit comes with build
    edit_function(model, "build", DROP_COLUMNS)
    edit_function(model, "tree_options", None)
    edit_function(model, "OWN_HYPERPARAMETERS", 'OWN_HYPERPARAMETERS = ("task", "drop_columns")  # fit reads it\n')
    (project / program / "hyperparameters.json").write_text(json.dumps(DROP_SCHEMA, indent=2) + "\n")
    labels, X = classes(400, 4, 3, seed=5)
    X = np.column_stack([np.arange(len(X)) + 1000, X])  # a row id: no feature
    names = ["kind", "row_id", "height", "width", "depth", "mass"]
    write_sample(project, Data(labels, X, names, {"drop_columns": "row_id", "max_depth": 5}))


TARGET_ENCODER = '''def build(params: dict, job: Job):
    """category_encoders' TargetEncoder on the categorical columns, then the tree."""
    from category_encoders import TargetEncoder
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    final = DecisionTreeClassifier if job.task == "classification" else DecisionTreeRegressor
    return make_pipeline(TargetEncoder(), final(**tree_options(params, job)))
'''


def target_encoder(project: Path, program: str) -> None:
    """The issue's model: skops cannot save its pandas objects, and says so with the three ways
    forward; the user then opts in to MODEL_FORMAT = "joblib", and make test trains and serves it."""
    model = project / program / "model.py"
    edit_function(model, "build", TARGET_ENCODER)
    edit_function(model, "FEATURE_TYPE", 'FEATURE_TYPE = "text"\n')
    with (project / program / "requirements.txt").open("a") as requirements:
        requirements.write("# category_encoders: the TargetEncoder (it needs pandas)\ncategory_encoders==2.11.2\n"
                           "# pandas' python-dateutil: below 3, as awscli (make venv's deploy tools) needs it\n"
                           "python-dateutil<3\n")
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 5, size=(500, 3))
    X = np.array([[f"kind{v}" for v in row] for row in codes])
    y = ((codes == 1).sum(axis=1) + rng.normal(0, 0.1, len(codes))).round(4)
    write_sample(project, Data(y, X, ["score", "hue", "size", "shape"], {"max_depth": 5}))
    env = {key: value for key, value in tool_env().items() if key != "CI"}  # make venv remakes the lock, as for a user
    made = run(["make", "venv", f"PYTHON={sys.executable}"], cwd=project, env=env)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    opt_ml = project.parent / "skops-opt-ml"
    shutil.copytree(project / "local_test" / "test_dir", opt_ml)
    refused = run([str(project / ".venv" / "bin" / "python"), str(project / "contract" / "train")], cwd=project,
                  env={**tool_env(), "OPT_ML": str(opt_ml)})  # fmt: skip
    reason = (opt_ml / "output" / "failure").read_text()
    assert refused.returncode == 1 and "skops cannot save steps[0][1].mapping" in reason, refused.stderr[-3000:]
    assert "(a pandas.Series)" in reason and all(way in reason for way in ("(a) ", "(b) replace", "(c) set")), reason
    shutil.rmtree(opt_ml)
    edit_function(model, "MODEL_FORMAT", 'MODEL_FORMAT = "joblib"  # category_encoders keeps pandas objects\n')


def boosted_regression(project: Path, program: str) -> None:
    """The framework's own model.py, on a regression sample with a header (not float32-exact)."""
    y, X = regression(600, 12, seed=6)
    hyperparameters = json.loads((project / "local_test/test_dir/input/config/hyperparameters.json").read_text())
    write_sample(project, Data(y, X, ["price", *(f"f{i}" for i in range(12))], hyperparameters))


@dataclass
class Case:
    framework: str
    change: Callable[[Path, str], None]  # (project, program folder name): edits the user's files
    doc: str
    tier: str = "test"  # make test-all where the assumptions it breaks sat in the deeper tier
    own_venv: bool = False  # its requirements.txt adds packages: make runs in the render's .venv (make venv)


CASES = {
    "sklearn-linear-svc-without-predict-proba": Case("scikit-learn", linear_svc,
        "a LinearSVC pipeline, predict_proba kept: offers() refuses probabilities, metrics come from predict"),
    "sklearn-knn-regressor": Case("scikit-learn", knn_regressor,
        "a KNN regressor: answers to float32 requests differ in the last bits; NaN is refused"),
    "sklearn-wide-rows": Case("scikit-learn", wide_rows,
        "the default tree on 40 features and 6 classes: bodies sized in bytes, not rows", "test-all"),
    "sklearn-blank-cells": Case("scikit-learn", blank_cells,
        "HistGradientBoosting on training data and a payload with blank cells"),
    "sklearn-named-columns": Case("scikit-learn", named_columns,
        "a hyperparameter naming a header column (drop_columns=row_id): synthetic data must have the names",
        "test-all"),
    "sklearn-target-encoder-joblib": Case("scikit-learn", target_encoder,
        "category_encoders' TargetEncoder: refused by skops with the ways forward, served with MODEL_FORMAT=joblib",
        own_venv=True),
    "xgboost-regression": Case("xgboost", boosted_regression, "XGBoost's model.py on 12-feature regression data"),
    "lightgbm-regression": Case("lightgbm", boosted_regression, "LightGBM's model.py on 12-feature regression data"),
}  # fmt: skip


def user_project(tmp_path: Path, name: str) -> Path:
    """A fresh render, committed, with the case's change applied; asserts only the user's files changed."""
    case = CASES[name]
    project = render(tmp_path, framework=case.framework)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "render")
    case.change(project, project.name)
    docs = run(["make", "docs", f"PYTHON={sys.executable}"], cwd=project)
    assert docs.returncode == 0, docs.stdout + docs.stderr
    git(project, "add", "-A")
    touched = git(project, "diff", "--cached", "--name-only").split()
    assert touched and all(map(users_files(project), touched)), touched
    return project


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_a_users_model_passes_the_projects_own_tests(tmp_path, name):
    """Each case's doc says what it exercises."""
    project = user_project(tmp_path, name)
    tier = CASES[name].tier
    python = [] if CASES[name].own_venv else [f"PYTHON={sys.executable}"]
    result = run(["make", tier, *python], cwd=project)
    REPORT.append(f"user model {name} ({CASES[name].doc}): make {tier}: {summary(result.stdout)}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
