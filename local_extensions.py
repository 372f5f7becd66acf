"""Jinja filters for this template (cookiecutter loads them through `_extensions`).

The README's hyperparameter table is rendered from the same hyperparameters.json that
`train` parses, by the same code that the rendered project's `make readme` runs, so the
documentation starts, and stays, in step with what the program accepts.
"""

import importlib.util
import json
from pathlib import Path

from cookiecutter.utils import simple_filter

HERE = Path(__file__).resolve().parent
FRAMEWORKS = HERE / "templates" / "frameworks"
PROGRAM = HERE / "{{cookiecutter.algorithm_name}}" / "{{cookiecutter.algorithm_name}}"


def _hyperparameters_module():
    spec = importlib.util.spec_from_file_location("rendered_hyperparameters", PROGRAM / "contract" / "hyperparameters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@simple_filter
def hyperparameter_table(framework: str) -> str:
    """The framework's schema as the README's Markdown table, by the code `make readme` runs."""
    schema = json.loads((FRAMEWORKS / framework / "hyperparameters.json").read_text(encoding="utf-8"))
    return _hyperparameters_module().readme_table(schema)
