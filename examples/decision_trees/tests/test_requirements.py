"""requirements.lock is what the image installs (pip --no-deps): every pin of requirements.txt (yours)
and requirements-serving.txt (the contract's) must be in it at its version, and every package in it
pinned. make venv runs make lock when they part; this test catches a lock left behind, offline."""

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
YOURS = PROJECT / "decision_trees"  # your requirements.txt and its requirements.lock


def pins(path: Path) -> dict[str, str | None]:
    """A requirements file's packages (names normalized as pip does) and their == versions (None: unpinned)."""
    found = {}
    for line in path.read_text().splitlines():
        line = re.sub(r"\s*#.*|;.*|\[[^]]*\]|\\", "", line).strip()
        if re.match(r"[A-Za-z0-9]", line):
            name, _, version = line.replace(" ", "").partition("==")
            name = re.split(r"[<>=!~]", name)[0]
            found[re.sub(r"[-_.]+", "-", name).lower()] = version or None
    return found


def test_the_lock_has_every_pin_of_requirements_txt_and_requirements_serving_txt():
    locked = pins(YOURS / "requirements.lock")
    for name in (f"{YOURS.name}/requirements.txt", "requirements-serving.txt"):
        wanted = pins(PROJECT / name)
        missing = [f"{p}=={v}" if v else p for p, v in wanted.items() if p not in locked or v not in (None, locked[p])]
        assert not missing, f"requirements.lock lacks {', '.join(missing)} of {name}: run make venv (it runs make lock)"


def test_every_package_of_the_lock_is_pinned():
    unpinned = [name for name, version in pins(YOURS / "requirements.lock").items() if version is None]
    assert not unpinned, f"requirements.lock leaves {unpinned} to the resolver: run make lock"
