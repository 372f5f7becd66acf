"""Jinja filters for this template (cookiecutter loads them through `_extensions`).

docs/hyperparameters.md's table is rendered from the same hyperparameters.json that `train`
parses, docs/environment.md's from the settings the contract modules declare and docs/errors.md's
from the contract's error sentences, by the same
code that the rendered project's `make docs` runs, so the documentation starts, and stays, in
step with what the program accepts.
"""

import importlib.util
import json
import sys
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
def environment_table(framework: str) -> str:
    """docs/environment.md's table, by the code `make docs` runs, from the contract modules this
    framework's render keeps (the post-generation hook removes the others)."""
    return _with_docs(lambda docs: docs.environment_table(_left_out(framework)))


@simple_filter
def error_table(framework: str, part: str) -> str:
    """docs/errors.md's table of what a request can get ("requests") or why a job fails ("jobs"),
    from the error sentences of the contract modules this framework's render keeps."""
    return _with_docs(lambda docs: docs.errors_tables(_left_out(framework))[("requests", "jobs").index(part)])


def _left_out(framework: str) -> tuple[str, ...]:
    """The contract files the post-generation hook removes from this framework's render."""
    hook = importlib.util.spec_from_file_location("post_gen_project", HERE / "hooks" / "post_gen_project.py")
    post_gen = importlib.util.module_from_spec(hook)
    hook.loader.exec_module(post_gen)
    left = [path for path, kept in post_gen.FRAMEWORK_FILES.items() if framework not in kept]
    return tuple(Path(path).name for path in left if Path(path).parent.name == "contract")


def _with_docs(write):
    sys.path.insert(0, str(CONTRACT.parent))  # the contract package, as `make docs` imports it
    try:
        from contract import docs

        return write(docs)
    finally:
        sys.path.remove(str(CONTRACT.parent))
        for name in [name for name in sys.modules if name == "contract" or name.startswith("contract.")]:
            del sys.modules[name]


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
