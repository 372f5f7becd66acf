"""Which files are yours, said once: pyproject.toml's [tool.cruft] skip lists them (make update never
changes them). Each of them that can hold a comment says so in its first line, no file of the
template's does, the contract's modules say they are the contract's, and the README's "Your files"
table names exactly the list."""

import ast
import os
import re
import tomllib
from pathlib import Path

from conftest import CONTRACT, PROJECT

HEADER = b"# Yours:"  # how the first line of each of your files that can hold a comment starts
HEADER_LINE = "# Yours: make update never changes this file (pyproject.toml's [tool.cruft] skip lists your files)."
COMMENTED = {".py", ".txt", ".sh", ".toml", ".cfg", ".ini", ".yml", ".yaml"}  # files whose comments start with #
WRITTEN_WHOLE = {"requirements.lock"}  # make lock (uv) writes it anew, its own first lines included
NOT_THE_PROJECTS = {".git", ".venv", ".venv-tools", "__pycache__", ".pytest_cache", ".ruff_cache", ".sagemaker"}
OUTPUT = ("local_test/test_dir/model", "local_test/test_dir/output")  # what local runs write (.gitignore)


def yours() -> list[str]:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["cruft"]["skip"]


def under(path: str, listed: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in listed)


def project_files() -> list[str]:
    found = []
    for folder, dirs, files in os.walk(PROJECT):
        dirs[:] = [d for d in dirs if d not in NOT_THE_PROJECTS]
        relative = Path(folder).relative_to(PROJECT)
        found += [(relative / name).as_posix() for name in files]
    return [path for path in found if not under(path, list(OUTPUT))]


def first_line(path: str) -> bytes:
    with open(PROJECT / path, "rb") as f:
        return f.readline()


def test_every_path_of_the_list_exists():
    missing = [path for path in yours() if not (PROJECT / path).exists()]
    assert not missing, f"pyproject.toml's [tool.cruft] skip lists {missing}, which this project does not have"


def test_each_of_your_files_says_it_is_yours_in_its_first_line():
    listed = yours()
    unmarked = [path for path in project_files() if under(path, listed) and Path(path).suffix in COMMENTED
                and Path(path).name not in WRITTEN_WHOLE and not first_line(path).startswith(HEADER)]  # fmt: skip
    assert not unmarked, (f"{unmarked} are yours ([tool.cruft] skip in pyproject.toml) but do not say so: "
                          f"make this their first line: {HEADER_LINE}")


def test_no_file_of_the_templates_says_it_is_yours():
    listed = yours()
    claimed = [path for path in project_files() if not under(path, listed) and first_line(path).startswith(HEADER)]
    assert not claimed, f"{claimed} say they are yours, but pyproject.toml's [tool.cruft] skip does not list them"


def test_the_contracts_modules_say_they_are_the_contracts():
    sources = sorted(CONTRACT.glob("*.py")) + [CONTRACT / "train", CONTRACT / "serve"]
    docstrings = {p.name: ast.get_docstring(ast.parse(p.read_text())) or "" for p in sources}
    unsaid = [name for name, docstring in docstrings.items() if "Part of the contract" not in docstring]
    assert not unsaid, f"contract/{unsaid}: the docstring does not say 'Part of the contract'"


def test_the_readmes_table_of_your_files_names_exactly_the_list():
    readme = (PROJECT / "README.md").read_text()
    heading = re.search(r"^#+ .*Your files.*$", readme, re.M)
    assert heading, "the README has no heading 'Your files'"
    table = re.search(r"^\|.*\n\|[-| :]+\|\n((?:\|.*\n)*)", readme[heading.end() :], re.M)
    assert table, "no table under the README's 'Your files' heading"
    named = [re.match(r"\|\s*`([^`]+)`", row) for row in table[1].splitlines()]
    assert all(named), f"each row of the README's 'Your files' table starts with a `path`: {table[1]}"
    assert sorted(m[1].rstrip("/") for m in named) == sorted(p.rstrip("/") for p in yours())
