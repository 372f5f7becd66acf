"""examples/decision_trees is the default render, committed: a fresh render must equal it.

It is made by `cruft create` of the repository (scripts/example.sh), so it also holds the
.cruft.json a user's project gets, under a fixed policy: "template" is "../.." (the repository
seen from the example, never an absolute path) and "commit" is the commit it was made from, a
commit of this repository whose template files are the ones checked out here.
"""

import json
import os
import re
import stat
import subprocess

from conftest import DEFAULTS, ROOT, render

EXAMPLE = ROOT / "examples" / "decision_trees"
REGENERATE = "commit the template, then make example   (and review `git diff examples/`)"
TEMPLATE_PATHS = ["cookiecutter.json", "hooks", "templates", "local_extensions.py", "{{cookiecutter.algorithm_name}}"]
CRUFT_STATE = ".cruft.json"


def tree(folder):
    return {
        str(p.relative_to(folder)): p
        for p in sorted(folder.rglob("*"))
        if "__pycache__" not in p.parts and ".pytest_cache" not in p.parts and p.name != CRUFT_STATE
    }


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_example_is_byte_for_byte_a_fresh_default_render(tmp_path):
    fresh = render(tmp_path)
    expected, actual = tree(fresh), tree(EXAMPLE)
    assert sorted(actual) == sorted(expected), f"file lists differ; regenerate with: {REGENERATE}"
    for name, path in expected.items():
        committed = actual[name]
        assert path.is_dir() == committed.is_dir(), name
        mode = stat.S_IMODE(os.stat(path).st_mode) & 0o111
        assert stat.S_IMODE(os.stat(committed).st_mode) & 0o111 == mode, f"{name}: run bits differ; {REGENERATE}"
        if path.is_file():
            assert committed.read_bytes() == path.read_bytes(), f"{name} differs; regenerate with: {REGENERATE}"


def test_the_examples_cruft_state_follows_the_policy():
    state = json.loads((EXAMPLE / CRUFT_STATE).read_text())
    answers = state["context"]["cookiecutter"]
    assert state["template"] == answers["_template"] == "../.."
    assert (EXAMPLE / state["template"]).resolve() == ROOT
    assert state["directory"] is None and state["checkout"] is None
    commit = state["commit"]
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and answers["_commit"] == commit
    assert git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0, f"{commit} is not in this repository"
    changed = git("diff", "--name-only", commit, "--", *TEMPLATE_PATHS).stdout.split()
    assert changed == [], f"the template changed since {commit[:12]}: {changed}; {REGENERATE}"
    defaults = {key: value[0] if isinstance(value, list) else value for key, value in DEFAULTS.items()}
    assert {key: value for key, value in answers.items() if not key.startswith("_")} == {
        key: value for key, value in defaults.items() if not key.startswith("_")
    }
