"""Jinja filters for this template (cookiecutter loads them through `_extensions`).

The README's hyperparameter table is rendered from the same hyperparameters.json that
`train` parses, described by the same code that words `train`'s error messages, so the
documentation cannot drift from what the program accepts.
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
def hyperparameter_schema(framework: str) -> list[dict]:
    """Rows of the framework's schema: name, type, default, allowed values, meaning."""
    describe_range = _hyperparameters_module().describe_range
    schema = json.loads((FRAMEWORKS / framework / "hyperparameters.json").read_text(encoding="utf-8"))
    return [
        {
            "name": name,
            "type": spec["type"],
            "default": "none" if spec["default"] is None else json.dumps(spec["default"]).strip('"'),
            "allowed": describe_range(spec),
            "help": spec["help"],
        }
        for name, spec in schema.items()
    ]
