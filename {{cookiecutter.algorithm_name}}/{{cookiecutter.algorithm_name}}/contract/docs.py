"""The generated tables of docs/, written by `make docs` from the code's own declarations.

docs/hyperparameters.md gets its table from hyperparameters.json (hyperparameters.readme_table),
docs/environment.md from the ENVIRONMENT declared by each contract module that reads settings,
so the pages say what the code does; the project's tests fail when a page is stale.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import ast
import importlib
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (make docs): the folder holding contract/ is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract import hyperparameters  # noqa: E402 (after the import root above)

HERE = Path(__file__).resolve().parent
ENVIRONMENT_START = "<!-- environment: written by `make docs` from each contract module's ENVIRONMENT -->"
ENVIRONMENT_END = "<!-- end of environment -->"


def environment(left_out: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """Every declared setting, name -> (default, effect), but those of the modules left out."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.name in left_out:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ENVIRONMENT" for t in node.targets)
               for node in tree.body):
            module = importlib.import_module(f"contract.{path.stem}")
            found.update(module.ENVIRONMENT)
    return found


def environment_table(left_out: tuple[str, ...] = ()) -> str:
    rows = ["| variable | default | effect |", "|---|---|---|"]
    for name, (default, effect) in environment(left_out).items():
        rows.append(f"| `{name}` | {default} | {effect} |")
    return "\n".join(rows)


def between(text: str, start: str, end: str, table: str) -> str:
    """text with what lies between the start and end lines replaced by table."""
    head, tail = text.index(start) + len(start), text.index(end)
    return text[:head] + "\n" + table + "\n" + text[tail:]


def generated(docs: Path) -> dict[Path, str]:
    """Each generated page with its tables as the code declares them now."""
    hyper, env = docs / "hyperparameters.md", docs / "environment.md"
    return {
        hyper: hyperparameters.with_readme_table(hyper.read_text(encoding="utf-8"), hyperparameters.load_schema()),
        env: between(env.read_text(encoding="utf-8"), ENVIRONMENT_START, ENVIRONMENT_END, environment_table()),
    }


if __name__ == "__main__":  # make docs: python contract/docs.py docs
    for page, text in generated(Path(sys.argv[1])).items():
        page.write_text(text, encoding="utf-8")
