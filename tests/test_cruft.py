"""Template updates, as a user lives them: `cruft create` of the repository, a worked
change to the user's own files, a contract change committed to the template, `make update`.

The template here is a git copy of this checkout's template files (what cruft would clone).
"""

import json
import os
import shutil
import sys
from pathlib import Path

from conftest import ROOT, VENV_BIN, run
from test_golden import TEMPLATE_PATHS
from test_worked_examples import apply, git, summary, worked_changes

PROGRAM = "decision_trees"
CONTRACT_FILE = "contract/nginx.conf"
OLD_404 = "not found: this server answers /ping, /invocations, /execution-parameters and /models"
NEW_404 = "not found: this server answers only /ping, /invocations, /execution-parameters and /models"
TABLE_PAGE = "docs/hyperparameters.md"  # beside the table the user's `make docs` rewrites
PAGE_LINE = "# Hyperparameters\n"


def cruft(*args: str, cwd: Path):
    return run([str(VENV_BIN / "cruft"), *args], cwd=cwd)


def template_copy(root: Path) -> Path:
    """A repository holding this checkout's template files, one commit."""
    root.mkdir()
    for name in TEMPLATE_PATHS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        else:
            shutil.copy2(source, root / name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "template v1")
    return root


def make(project: Path, *args: str):
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ['PATH']}")  # cruft, as .venv/bin would hold it
    return run(["make", *args, f"PYTHON={sys.executable}"], cwd=project, env=env)


def test_cruft_create_then_update_brings_the_contract_change_and_keeps_the_users_code(tmp_path):
    template = template_copy(tmp_path / "template")
    created = cruft("create", "--no-input", "--output-dir", str(tmp_path / "work"), str(template), cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "work" / PROGRAM
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template) and state["commit"] == git(template, "rev-parse", "HEAD").strip()
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "rendered")

    # The user's change, as docs/your-model.md shows it (a RandomForest with n_estimators), then `make docs`.
    for step in worked_changes(project)["random-forest"]:
        apply(project, PROGRAM, step)
    assert make(project, "docs").returncode == 0
    with open(project / PROGRAM / "requirements.txt", "a") as requirements:  # the user's pins, byte for byte
        requirements.write("# my model's libraries end here\n")
    git(project, "commit", "-qam", "my model")
    mine = {p: p.read_bytes() for p in (project / PROGRAM).iterdir() if p.is_file()}  # the user's folder
    my_table = [line for line in (project / TABLE_PAGE).read_text().splitlines() if "n_estimators" in line]
    assert my_table, "make docs put the new hyperparameter in the docs' table"
    assert make(project, "update-check").returncode == 0  # nothing new yet

    # The template moves on: a contract change (the 404 body) and a line on the table's page.
    conf = template / "{{cookiecutter.algorithm_name}}" / "contract" / "nginx.conf"
    assert OLD_404 in conf.read_text(), "the upstream change below edits a line nginx.conf no longer has"
    conf.write_text(conf.read_text().replace(OLD_404, NEW_404))
    page = template / "{{cookiecutter.algorithm_name}}" / TABLE_PAGE
    page.write_text(page.read_text().replace(PAGE_LINE, PAGE_LINE + "\nA line the template added.\n"))
    # ... and lines in both requirements files: the contract's arrives, the user's file stays theirs.
    for pins in ("templates/serving/requirements.txt", "templates/frameworks/scikit-learn/requirements.txt"):
        with open(template / pins, "a") as requirements:
            requirements.write(f"# a line the template added to {pins}\n")
    git(template, "commit", "-qam", "template v2")

    check = make(project, "update-check")
    assert check.returncode != 0, check.stdout + check.stderr
    update = make(project, "update")
    assert update.returncode == 0, update.stdout + update.stderr
    assert NEW_404 in (project / CONTRACT_FILE).read_text()
    text = (project / TABLE_PAGE).read_text()
    assert "A line the template added." in text and all(line in text for line in my_table)
    assert {path: path.read_bytes() for path in mine} == mine
    assert "# a line the template added to templates/serving/" in (project / "requirements-serving.txt").read_text()
    leftovers = [p.name for p in project.rglob("*.rej")] + [p.name for p in project.rglob("*.orig")]
    conflicts = [p.name for p in project.rglob("*") if p.is_file() and b"<<<<<<<" in p.read_bytes()]
    assert leftovers == [] and conflicts == []
    assert json.loads((project / ".cruft.json").read_text())["commit"] == git(template, "rev-parse", "HEAD").strip()
    git(project, "commit", "-qam", "template v2")
    assert make(project, "update-check").returncode == 0

    # The project's own loop passes on the updated project (the random forest's deeper tier, make
    # test-all, runs in test_worked_examples).
    result = make(project, "test")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in summary(result.stdout)
