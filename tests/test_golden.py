"""examples/decision_trees is the default render, committed: a fresh render must equal it."""

import os
import stat

from conftest import ROOT, render

EXAMPLE = ROOT / "examples" / "decision_trees"
REGENERATE = "make example   (then review `git diff examples/`)"


def tree(folder):
    return {
        str(p.relative_to(folder)): p
        for p in sorted(folder.rglob("*"))
        if "__pycache__" not in p.parts and ".pytest_cache" not in p.parts
    }


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
