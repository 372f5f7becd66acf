"""Jinja filters for this template (cookiecutter loads them through `_extensions`).

docs/hyperparameters.md's table is rendered from the same hyperparameters.json that `train`
parses, by the code that the rendered project's `make docs` runs (the post-generation hook then
runs all of `make docs`: the environment and error tables come from the render's own contract),
so the documentation starts, and stays, in step with what the program accepts.
"""

import importlib.util
import json
from pathlib import Path

from cookiecutter.utils import simple_filter

HERE = Path(__file__).resolve().parent
FRAMEWORKS = HERE / "templates" / "frameworks"
CONTRACT = HERE / "{{cookiecutter.algorithm_name}}" / "contract"


def _hyperparameters_module():
    # By path, anew at each call: cruft renders two commits of the template in one process (the
    # project's and the newest), and a module kept in sys.modules would be the first one's code.
    spec = importlib.util.spec_from_file_location("rendered_hyperparameters", CONTRACT / "hyperparameters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@simple_filter
def hyperparameter_table(framework: str) -> str:
    """The framework's schema as the README's Markdown table, by the code `make readme` runs."""
    schema = json.loads((FRAMEWORKS / framework / "hyperparameters.json").read_text(encoding="utf-8"))
    return _hyperparameters_module().readme_table(schema)


@simple_filter
def sample_hyperparameters(framework: str) -> str:
    """The sample job's hyperparameters (local_test's, all strings) typed by the schema, as the
    Python dict an SDK user writes: {"max_depth": 5, "criterion": "gini"}."""
    frameworks = FRAMEWORKS / framework
    schema = json.loads((frameworks / "hyperparameters.json").read_text(encoding="utf-8"))
    sample = json.loads((frameworks / "local_hyperparameters.json").read_text(encoding="utf-8"))
    typed = _hyperparameters_module().parse(sample, schema)
    literal = {str: json.dumps}
    return "{" + ", ".join(f"{json.dumps(k)}: {literal.get(type(typed[k]), repr)(typed[k])}" for k in sample) + "}"
