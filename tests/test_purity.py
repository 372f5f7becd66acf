"""Only what this project uses: each framework's render holds its own files, tests, packages and words.

For each framework, the render is checked for: a word naming another framework, an apt package
its image does not need, a path (contract/..., tests/..., lifecycle/..., local_test/...) that a
file mentions but the render lacks, a test deselected at collection, and an import that neither
the render nor the packages it declares provide.
"""

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEFAULTS, FRAMEWORKS

NAME = DEFAULTS["algorithm_name"]
# The words that name each framework (case-insensitive): its name, its import and its model format.
WORDS = {
    "scikit-learn": r"scikit-learn|sklearn|skops",
    "xgboost": r"xgboost",
    "lightgbm": r"lightgbm|lgbm",
}
# (framework, path in the render, word): why that word of another framework must stay there. Keep it
# short: every entry is a sentence a user of this framework reads about something they do not have.
ALLOWED: dict[tuple[str, str, str], str] = {}
# What every image needs from apt: the interpreter, its venv module, the front server, TLS roots.
BASE_APT = {"python3", "python3-venv", "nginx", "ca-certificates"}
# apt packages a framework's image may add, each for the shared library (its file name's start, and
# the name a shared object links it by) that a wheel of its requirements.lock links from the system
# rather than bundling a copy (auditwheel bundles one as <name>-<hash>.so).
APT_LIBRARIES = {"libgomp1": ("libgomp", b"\x00libgomp.so.1\x00")}  # OpenMP
# Paths a file may name, relative to the project or the program folder. Not matched: a path inside
# a longer one (/opt/program/contract/...), a pattern (tests/test_*.py, requirements-sdk-<sdk>.txt),
# a placeholder ({name}), or the sample job's folder local_test/test_dir/, which holds what you put
# there (a worked change's data) and what `train` writes (model/, output/).
MENTIONED = re.compile(
    rf"(?<![\w/.$-])((?:{NAME}/)?(?:contract|tests|lifecycle|local_test)/(?!test_dir/)[\w./-]*\w)(?![\w*{{<(-])"
)


def text_files(project: Path) -> dict[str, str]:
    found = {}
    for path in sorted(project.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                found[str(path.relative_to(project))] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary sample data
    return found


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_file_names_another_framework(rendered, framework):
    project = rendered(framework=framework)
    others = re.compile("|".join(WORDS[f] for f in FRAMEWORKS if f != framework), re.I)
    found = []
    for path, text in text_files(project).items():
        for number, line in enumerate(text.splitlines(), 1):
            for match in others.finditer(line):
                if (framework, path, match[0].lower()) not in ALLOWED:
                    found.append(f"{path}:{number}: {line.strip()[:160]}")
    assert not found, f"the {framework} render names another framework:\n" + "\n".join(found)


def apt_packages(dockerfile: str) -> set[str]:
    """The packages of the Dockerfile's `apt-get install` lines (options left out)."""
    installs = re.findall(r"apt-get install ((?:[^\n\\&]|\\\n)*)", dockerfile)  # up to the next && or line
    return {word for line in installs for word in line.replace("\\\n", " ").split() if not word.startswith("-")}


def locked(project: Path, *files: str) -> list[str]:
    """The distribution names pinned (name==version) in the project's requirement files."""
    names = []
    for name in files:
        for line in (project / name).read_text().splitlines():
            match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==", line.strip())
            if match:
                names.append(match[1])
    return names


def needs_from_the_system(distribution: str, library: tuple[str, bytes]) -> bool:
    """Whether a shared object of the installed distribution links the library from the system."""
    stem, linked = library
    shared = [f for f in importlib.metadata.distribution(distribution).files or [] if re.search(r"\.so(\.|$)", f.name)]
    if any(f.name.startswith(stem) for f in shared):
        return False  # the wheel bundles its own copy
    return any(linked in f.locate().read_bytes() for f in shared)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_image_installs_only_the_apt_packages_it_needs(rendered, framework):
    project = rendered(framework=framework)
    packages = locked(project, f"{NAME}/requirements.lock")
    needed = {apt for apt, library in APT_LIBRARIES.items() if any(needs_from_the_system(p, library) for p in packages)}
    assert apt_packages((project / "Dockerfile").read_text()) == BASE_APT | needed


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_path_a_file_names_exists(rendered, framework):
    """The README, comments, docstrings and Makefile name only files of this render. A path is looked
    for in the project and in the program folder (the contract may sit in either)."""
    project = rendered(framework=framework)
    missing = []
    for path, text in text_files(project).items():
        for match in MENTIONED.finditer(text):
            mentioned = match[1].rstrip(".")
            if not any((root / mentioned).exists() for root in (project, project / NAME)):
                line = text.count("\n", 0, match.start()) + 1
                missing.append(f"{path}:{line}: {mentioned}")
    assert not missing, f"the {framework} render names files it does not have:\n" + "\n".join(missing)

# A Python file named by itself (boosting.py, test_distributed.py) rather than by its path.
MODULE_FILE = re.compile(r"(?<![\w/.-])[A-Za-z_][\w-]*\.py\b")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_python_file_a_file_names_exists(rendered, framework):
    project = rendered(framework=framework)
    have = {path.name for path in project.rglob("*.py")}
    missing = sorted({
        f"{path}: {name}" for path, text in text_files(project).items() for name in MODULE_FILE.findall(text)
        if name not in have
    })  # fmt: skip
    assert not missing, f"the {framework} render names Python files it does not have:\n" + "\n".join(missing)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_test_is_deselected_for_the_framework(rendered, framework, tmp_path):
    """Every test of the render, deep ones included, is collected: a test of another framework's
    feature is not shipped and then deselected (the `applies` mark is for what a user turns off)."""
    project = tmp_path / "project"  # a copy: collecting writes (.hypothesis/, bytecode), and the render is shared
    shutil.copytree(rendered(framework=framework), project)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--deep", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ tests? collected", summary) and "deselected" not in summary, summary


def provided_modules(distributions: list[str]) -> set[str]:
    """The top-level modules the distributions provide, with those of their own dependencies (as
    installed here), or, for one not installed, its name as a module."""
    by_distribution: dict[str, set[str]] = {}
    for module, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            by_distribution.setdefault(canonical(owner), set()).add(module)
    modules, seen, todo = set(), set(), [canonical(d) for d in distributions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        modules |= by_distribution.get(name, {name.replace("-", "_")})
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [canonical(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in requires if "extra ==" not in r]
    return modules


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported(tree: ast.AST) -> set[str]:
    """Top-level modules a file imports (relative imports left out)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def python_files(project: Path) -> dict[str, ast.AST]:
    found = {}
    for path, text in text_files(project).items():
        if path.endswith(".py") or text.startswith("#!/usr/bin/env python"):
            found[path] = ast.parse(text, path)
    return found


# (path in the program folder, module): why the image's code may import a module its requirements.lock lacks.
OPTIONAL_IMPORTS = {
    ("contract/tables.py", "pandas"): "only for a table (COLUMNS), which interface.py refuses without pandas "
    "installed: the user adds it to requirements.txt",
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_import_is_of_the_render_or_of_its_packages(rendered, framework):
    """A module the render imports is stdlib, one of its own files, or provided by a package it
    declares. The image's code (the program folder, and contract/ wherever it sits) has only the
    packages of requirements.lock; the tests and the deploy side also have the test, deploy, tool
    and SDK requirements."""
    project = rendered(framework=framework)
    files = python_files(project)
    own = {Path(path).stem if path.endswith(".py") else Path(path).name for path in files}
    own |= {Path(path).parts[-2] for path in files if path.endswith("/__init__.py")}
    stdlib = set(sys.stdlib_module_names)
    image = stdlib | own | provided_modules(locked(project, f"{NAME}/requirements.lock"))
    everything = image | provided_modules(locked(
        project, "requirements-dev.txt", "requirements-deploy.txt", "requirements-tools.txt",
        "tests/requirements-sdk-v2.txt", "tests/requirements-sdk-v3.txt",
    ))  # fmt: skip
    unknown = []
    for path, tree in files.items():
        in_image = path.startswith((f"{NAME}/", "contract/"))
        for module in sorted(imported(tree) - (image if in_image else everything)):
            if (path.removeprefix(f"{NAME}/"), module) not in OPTIONAL_IMPORTS:
                unknown.append(f"{path}: {module}")
    assert not unknown, f"the {framework} render imports what it does not have:\n" + "\n".join(unknown)
