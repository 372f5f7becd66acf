"""The README and docs/ say only what exists: every link, command, file and setting they name.

The generated tables (hyperparameters, environment variables) must also be what `make docs`
writes now. Cheap checks, in the user's loop: a page that names a file the project no longer has
fails here, not in a reader's hands.
"""

import ast
import re

import pytest
from conftest import PROJECT

from contract import docs

PAGES = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
# Project paths a page may name: those under these folders, or a root file by its name.
FOLDERS = ("contract/", "tests/", "local_test/", "lifecycle/", "docs/", ".github/", f"{PROJECT.name}/")
ROOT_FILE = re.compile(r"[\w.-]+\.(?:py|sh|toml)|requirements[\w.-]*\.(?:txt|lock)|Dockerfile|Makefile")


def code(text: str) -> list[str]:
    """The page's code: fenced blocks' lines and inline spans."""
    return [line for block in FENCE.findall(text) for line in block.splitlines()] + SPAN.findall(FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_reaches_a_file_and_heading(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not this project's
            continue
        path, _, anchor = target.partition("#")
        goal = (page.parent / path).resolve() if path else page
        if not goal.exists() or (anchor and anchor not in anchors(goal)):
            broken.append(target)
    assert not broken, f"{page.name} links to what is not there: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_make_command_named_is_a_target(page):
    targets = set(re.findall(r"^([\w-]+):", (PROJECT / "Makefile").read_text(), re.M))
    snippets = code(page.read_text(encoding="utf-8"))
    named = {target for snippet in snippets for target in re.findall(r"\bmake ([a-z][\w-]*)", snippet)}
    assert named <= targets, f"{page.name} names make targets the Makefile lacks: {sorted(named - targets)}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_file_named_exists(page):
    missing = []
    for snippet in code(page.read_text(encoding="utf-8")):
        for token in re.findall(r"[\w./-]+", snippet):
            token = token.rstrip(".")
            if token.startswith(FOLDERS) and "..." not in token:
                exists = (PROJECT / token).exists()
            elif ROOT_FILE.fullmatch(token):  # a bare file name: somewhere in the project
                exists = any(p for p in PROJECT.rglob(token) if ".venv" not in p.parts)
            else:
                continue
            if not exists:
                missing.append(token)
    assert not missing, f"{page.name} names files the project does not have: {sorted(set(missing))}"


def strings_read(tree: ast.Module) -> set[str]:
    """The module's string constants, but those of its ENVIRONMENT declaration (what it documents)."""
    declared = [node for node in tree.body
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ENVIRONMENT" for t in node.targets)]
    inside = {id(node) for declaration in declared for node in ast.walk(declaration)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside}


def test_every_environment_variable_documented_is_read_by_the_code():
    sources = [p for p in PROJECT.rglob("*") if p.is_file() and ".venv" not in str(p) and "tests" not in p.parts
               and (p.suffix == ".py" or p.name in ("train", "serve"))]
    read = set().union(*(strings_read(ast.parse(p.read_text(encoding="utf-8"))) for p in sources))
    page = (PROJECT / "docs" / "environment.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", page, re.M))
    assert documented, "docs/environment.md lists no variable"
    assert documented <= read, f"documented but read by no code: {sorted(documented - read)}"


def test_the_generated_pages_are_current():
    pages = docs.generated(PROJECT / "docs")
    stale = [page.name for page, text in pages.items() if page.read_text(encoding="utf-8") != text]
    assert not stale, f"stale: {stale}; run `make docs`"
