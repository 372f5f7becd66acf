"""The worked changes of a render's docs/your-model.md (the README links each), applied to a fresh
render exactly as the page shows them.

Each `<!-- change NAME: FILE ACTION -->` line in that page is followed by the code
block to apply: `function F` replaces that top-level function of a Python file, `value V`
the assignment of V, `imports` its block of imports, `append` adds the code at its end, `add`
merges JSON keys into a JSON file, `replace` writes the file anew; `delete` (no code) removes it.
The project's own commands must then pass, and git must see changes to the user's files only.
"""

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPORT, render, run, tool_env
from test_generated_projects import HALVES, half_group, make_test_container

CHANGE = re.compile(r"<!-- change (?P<name>[\w-]+): (?P<file>\S+) "
                    r"(?P<action>function \w+|value \w+|imports|append|add|replace|delete) -->\n"
                    r"(?:```\w*\n(?P<code>.*?)```)?", re.S)
# The page of a render that holds the worked changes in full.
WORKED_CHANGES_PAGE = "docs/your-model.md"


def users_files(project: Path) -> Callable[[str], bool]:
    """Whether a path is the user's: under a path of the render's ownership list (pyproject.toml's
    [tool.cruft] skip), or docs/hyperparameters.md (its hyperparameter table, via `make docs`)."""
    owned = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["cruft"]["skip"]
    return lambda path: path == "docs/hyperparameters.md" or any(path == p or path.startswith(p + "/") for p in owned)


def changes(page: str) -> dict[str, list[re.Match]]:
    found: dict[str, list[re.Match]] = {}
    for match in CHANGE.finditer(page):
        found.setdefault(match["name"], []).append(match)
    return found


def worked_changes(project: Path) -> dict[str, list[re.Match]]:
    """The worked changes of a rendered project, by name, each a list of steps in order."""
    return changes((project / WORKED_CHANGES_PAGE).read_text())


def apply(project: Path, program: str, step: re.Match) -> None:
    in_program = not step["file"].startswith(("local_test/", "tests/"))
    path = project / (f"{program}/{step['file']}" if in_program else step["file"])
    action, code = step["action"], step["code"]
    assert (code is None) == (action == "delete"), f"{step[0]}: a code block goes with every action but delete"
    if action == "delete":
        path.unlink()
    elif action == "replace":
        path.write_text(code)
    elif action == "append":
        path.write_text(path.read_text().rstrip("\n") + "\n" + code)
    elif action == "imports":  # the module's top-level import lines, first to last, become the block
        source = path.read_text()
        nodes = [n for n in ast.parse(source).body if isinstance(n, ast.Import | ast.ImportFrom)]
        lines = source.splitlines(keepends=True)
        path.write_text("".join(lines[: nodes[0].lineno - 1]) + code + "".join(lines[nodes[-1].end_lineno :]))
    elif action == "add":  # as a person would: the new entries before the closing brace, the rest untouched
        text, added = path.read_text(), json.loads(code)
        assert not set(added) & set(json.loads(text)), f"{path.name} already has {set(added) & set(json.loads(text))}"
        body = code.strip()[1:-1].strip("\n")
        end = text.rstrip().rindex("}")
        path.write_text(text[:end].rstrip() + ",\n  " + body.strip() + "\n" + text[end:])
        json.loads(path.read_text())  # still one JSON object
    else:  # a top-level function, or the assignment of a top-level name
        kind, name = action.split()
        source = path.read_text()
        node = next(n for n in ast.parse(source).body if defines(n, kind, name))
        lines = source.splitlines(keepends=True)
        path.write_text("".join(lines[: node.lineno - 1]) + code + "".join(lines[node.end_lineno :]))


def defines(node: ast.stmt, kind: str, name: str) -> bool:
    if kind == "function":
        return isinstance(node, ast.FunctionDef) and node.name == name
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


def summary(output: str) -> str:
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return lines[-1].strip("= ") if lines else "no pytest summary"


def git(project: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=project).stdout


def test_every_framework_has_worked_changes_and_its_readme_links_each(tmp_path):
    for framework in ("scikit-learn", "xgboost", "lightgbm"):
        project = render(tmp_path / framework, framework=framework)
        found = worked_changes(project)
        assert found, framework
        readme = (project / "README.md").read_text()
        assert readme.count(f"]({WORKED_CHANGES_PAGE}#worked-change") == len(found), framework


EXPECTED_ESTIMATOR = {"random-forest": "RandomForestClassifier", "pipeline": "LogisticRegression",
                      "text-classifier": "TfidfVectorizer", "top-classes": "DecisionTreeClassifier",
                      "churn": "OneHotEncoder"}
WORKED = [("scikit-learn", "random-forest"), ("scikit-learn", "pipeline"), ("scikit-learn", "text-classifier"),
          ("scikit-learn", "churn"), ("scikit-learn", "top-classes"), ("xgboost", "colsample-bylevel"),
          ("lightgbm", "extra-trees"), ("lightgbm", "churn")]


def changed_project(tmp_path, framework: str, *names: str) -> tuple[Path, list[str], list[str]]:
    """A fresh render with the worked changes applied in order and `make docs` run, committed as
    "render" then staged; (the project, the files touched, the diff's lines)."""
    project = render(tmp_path, framework=framework)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "render")
    page_changes = worked_changes(project)
    for name in names:
        for step in page_changes[name]:
            apply(project, project.name, step)
    docs = run(["make", "docs", f"PYTHON={sys.executable}"], cwd=project)
    assert docs.returncode == 0, docs.stdout + docs.stderr
    git(project, "add", "-A")  # new files (the text classifier's data) count as changes too
    touched = git(project, "diff", "--cached", "--name-only").split()
    return project, touched, git(project, "diff", "--cached", "-U0").splitlines()


# The tier each change's host run takes: the loop (`make test`: the user's model through the contract)
# for a change of model or schema; `make test-all` where the change reaches the contract's own paths
# (text features, a table), whose deep tests must follow it too. The boosting renders' schema changes
# run the files their schema reaches; their full suites run in test_generated_projects.
TIER = {"text-classifier": "test-all", "churn": "test-all"}


@pytest.mark.parametrize("framework, change", WORKED)
def test_a_worked_change_passes_the_projects_own_tests(tmp_path, framework, change):
    project, touched, diff = changed_project(tmp_path, framework, change)
    assert touched and all(map(users_files(project), touched)), touched
    if framework == "scikit-learn" or change == "churn":
        tier = TIER.get(change, "test") if framework == "scikit-learn" else "test"
        result = run(["make", tier, f"PYTHON={sys.executable}"], cwd=project)
    else:
        result = run([sys.executable, "-m", "pytest", "-q", "tests/test_train.py", "tests/test_hyperparameters.py",
                      "tests/test_interface.py"], cwd=project)
    added = [line for line in diff if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff if line.startswith("-") and not line.startswith("---")]
    REPORT.append(f"worked change {framework}/{change}: {', '.join(touched)}; +{len(added)} -{len(removed)} lines; "
                  + summary(result.stdout))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    if framework == "scikit-learn":  # the model trained on the sample data is the one the change asked for
        opt_ml = tmp_path / "opt_ml"
        shutil.copytree(project / "local_test" / "test_dir", opt_ml)
        env = {**tool_env(), "OPT_ML": str(opt_ml)}
        trained = subprocess.run([str(project / "contract" / "train")], env=env, capture_output=True, text=True)
        assert trained.returncode == 0, trained.stderr
        with zipfile.ZipFile(opt_ml / "model" / "model.skops") as archive:
            assert EXPECTED_ESTIMATOR[change] in archive.read("schema.json").decode()


# Changes that alter what goes over the wire (hooks, text features, a table): the image must agree,
# in the project's whole container suite. The table and the output hook share one render, applied in
# the README's order, as a user taking both would. (Apart from the host runs above; only a run's
# exclusive half waits its turn among the container tests.)
CONTAINER_WORKED = {"text-classifier": ("scikit-learn", ("text-classifier",)),
                    "churn-top-classes": ("scikit-learn", ("churn", "top-classes")),
                    "lightgbm-churn": ("lightgbm", ("churn",))}


@pytest.mark.container
@pytest.mark.parametrize("name, half", [pytest.param(n, h, marks=half_group(n, h), id=f"{n}-{h}")
                                        for n in CONTAINER_WORKED for h in HALVES])
def test_a_worked_change_passes_the_projects_container_tests(tmp_path, name, half):
    framework, names = CONTAINER_WORKED[name]
    project, _touched, _diff = changed_project(tmp_path, framework, *names)
    result = make_test_container(project, f"byoc-worked-{name}", half)
    REPORT.append(f"worked change {framework}/{'+'.join(names)}: make test-container ({half}): "
                  f"{summary(result.stdout)}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_a_users_own_regression_data_passes_the_generated_tests_unedited(tmp_path):
    """The user's 8-feature regression CSV (with a header, as pandas writes it) replaces the iris sample."""
    import numpy as np

    project = render(tmp_path)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "render")
    rng = np.random.default_rng(7)
    X = np.round(rng.normal(size=(600, 8)) * 10, 3)
    y = np.round(X @ rng.normal(size=8) + 50, 3)
    names = [f"sensor_{i}" for i in range(8)]
    data = project / "local_test" / "test_dir" / "input" / "data"
    for channel, rows in (("training", slice(0, 480)), ("validation", slice(480, 600))):
        shutil.rmtree(data / channel)
        (data / channel).mkdir()
        rows_text = [",".join(map(str, [t, *r])) for t, r in zip(y[rows], X[rows], strict=True)]
        lines = [",".join(["target", *names]), *rows_text]
        (data / channel / "readings.csv").write_text("\n".join(lines) + "\n")
    (project / "local_test" / "payload.csv").write_text("\n".join(",".join(map(str, r)) for r in X[:10]) + "\n")
    (project / "local_test" / "test_dir" / "input" / "config" / "hyperparameters.json").write_text("{}\n")
    touched = git(project, "status", "--porcelain", "-uall").split("\n")
    assert all(users_files(project)(line[3:]) for line in touched if line), touched
    result = run(["make", "test-all", f"PYTHON={sys.executable}"], cwd=project)
    REPORT.append(f"own 8-feature regression data: make test-all: {summary(result.stdout)}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
