"""The seam between the contract and model.py: checked when train and serve start.

A model.py that lacks a function the contract calls, or names it otherwise, must stop `train`
(with the reason in /opt/ml/output/failure) and `serve` at once, with one sentence naming it.
"""

import inspect
import json
import subprocess
import types
from pathlib import Path

import pytest
import requests
from conftest import (
    CODE,
    PROGRAM,
    SAMPLE_ROW,
    entry,
    free_port,
    numbers_only,
    program_copy,
    program_env,
    require_tool,
    start_server,
)

from contract import interface, metrics, multihost


def module(**functions) -> types.ModuleType:
    fake = types.ModuleType("model")
    fake.__file__ = "model.py"
    for name, function in functions.items():
        setattr(fake, name, function)
    return fake


def complete(**overrides) -> types.ModuleType:
    functions = {
        "fit": lambda params, train, validation, job: None,
        "save": lambda model, directory: None,
        "load": lambda directory, threads: None,
        "predict": lambda model, X: X[:, 0],
    }
    functions.update(overrides)
    return module(**{k: v for k, v in functions.items() if v is not None})


def test_this_projects_model_py_provides_the_interface():
    code = interface.load_model_code()
    assert interface.check(code) is code


@pytest.mark.deep
@pytest.mark.parametrize("name", interface.REQUIRED)
def test_a_missing_function_is_named(name):
    with pytest.raises(interface.InterfaceError) as raised:
        interface.check(complete(**{name: None}))
    message = str(raised.value)
    assert f"defines no function {name}(" in message and "\n" not in message


@pytest.mark.deep
def test_a_misnamed_function_is_named_with_its_likely_intent():
    code = complete(predict=None, predict_fn=lambda model, X: X)
    wanted = r"defines no function predict\(model, X\).*predict_fn: rename it"
    with pytest.raises(interface.InterfaceError, match=wanted):
        interface.check(code)


@pytest.mark.deep
def test_a_function_with_the_wrong_parameters_is_refused():
    with pytest.raises(interface.InterfaceError, match=r"fit\(params\) cannot be called as fit\(params, train"):
        interface.check(complete(fit=lambda params: None))


@pytest.mark.deep
def test_optional_functions_are_checked_when_present():
    with pytest.raises(interface.InterfaceError, match="predict_proba"):
        interface.check(complete(predict_proba=lambda X: X))
    assert interface.check(complete(predict_proba=lambda model, X: X))


@pytest.mark.deep
def test_constants_have_their_types():
    code = complete()
    code.ITERATION_METRICS = "rmse"
    with pytest.raises(interface.InterfaceError, match="ITERATION_METRICS must be a tuple"):
        interface.check(code)


def test_the_interface_is_declared_once_by_model_code():
    """What check asks for is ModelCode's: its functions (required unless @optional, with the
    parameters declared there) and its annotated constants, each refused in a value of another type."""
    declared = [n for n, f in vars(interface.ModelCode).items() if inspect.isfunction(f) and not n.startswith("_")]
    assert list(interface.REQUIRED + interface.OPTIONAL) == sorted(declared, key=declared.index)
    assert set(interface.HOOKS.values()) <= set(interface.OPTIONAL)
    assert interface.check(complete()) is not None  # every optional function and constant may be left out
    for name, default in interface.CONSTANTS.items():
        code = complete()
        setattr(code, name, 1.5)  # of no constant's type
        with pytest.raises(interface.InterfaceError, match=name):
            interface.check(code)
        assert interface.constant(complete(), name) == default


@pytest.mark.parametrize(
    "name, meant",
    [("predict_probaa", "predict_proba"), ("input_fm", "input_fn"), ("ITERATON_METRICS", "ITERATION_METRICS"),
     ("fitted_param", "fitted_params"), ("OWN_HYPERPARAMETER", "OWN_HYPERPARAMETERS"), ("version", "versions")],
)  # fmt: skip
def test_a_misspelled_interface_name_is_named_with_what_was_meant(name, meant):
    code = complete()
    value = ("rmse",) if name.isupper() else lambda *args: None
    if callable(value):
        value.__module__ = code.__name__  # defined in model.py
    setattr(code, name, value)
    with pytest.raises(interface.InterfaceError) as raised:
        interface.check(code)
    assert str(raised.value).startswith(f"model.py defines `{name}`: did you mean `{meant}`?"), raised.value


def test_names_of_your_own_pass():
    """Helpers, constants of the model's own, and what model.py imports are not the interface's."""
    def helper(*args):
        return None

    helper.__module__ = "model"  # defined in model.py
    code = complete(load_model=helper, predict_log_proba=helper, transform_rows=helper, _input_fm=helper)
    code.CHECKPOINT_SUFFIX, code.LABEL_DOMAIN, code.METRICS, code.OBJECTIVES = ".ubj", {}, {}, {}
    code.json, code.Path = json, Path  # an imported module and class
    code.versionss = inspect.signature  # imported, so not model.py's own
    assert interface.check(code) is code


def test_the_contract_joins_the_hosts_whatever_model_py_imports():
    """The framework's multi-host training is the contract's choice (contract/multihost.py): a name
    model.py imports or deletes does not change it; a model.py of another framework trains on one
    host, and a join of model.py's own (a framework of your own) is the one used."""
    assert "join" not in vars(CODE) or CODE.join is not multihost.join  # model.py does not wire it
    assert multihost.join_for(CODE) is (multihost.join if multihost.FRAMEWORK == interface.constant(CODE, "FRAMEWORK")
                                        else None)  # fmt: skip
    own = complete(join=lambda cluster: None)
    assert multihost.join_for(own) is own.join
    other = complete()
    other.FRAMEWORK = "another"
    assert multihost.join_for(other) is None


def test_iteration_metrics_json_is_model_pys():
    """The lifecycle's ITERATION_METRICS (it does not import model.py): model.py's, as `train` reads it."""
    written = json.loads((PROGRAM / metrics.NAMES_FILE).read_text(encoding="utf-8"))
    assert written == list(interface.constant(CODE, "ITERATION_METRICS")), (
        f"{metrics.NAMES_FILE} is stale: run make metrics"
    )


def broken_program(tmp_path: Path, addition: str = "", schema_entry: dict | None = None) -> Path:
    """A copy of the program folder whose model.py calls its predict function predict_fn, or that
    has this addition to model.py, or this entry "broken" in hyperparameters.json."""
    program = program_copy(tmp_path)
    source = (program / "model.py").read_text()
    assert "\ndef predict(" in source
    if addition:
        (program / "model.py").write_text(source + addition)
    elif schema_entry:
        schema = json.loads((program / "hyperparameters.json").read_text())
        (program / "hyperparameters.json").write_text(json.dumps({**schema, "broken": schema_entry}))
    else:
        (program / "model.py").write_text(source.replace("\ndef predict(", "\ndef predict_fn("))
    return program


MISSPELLED = ("\n\ndef input_fm(body, content_type, context):\n    return body\n",
              "defines `input_fm`: did you mean `input_fn`?")  # fmt: skip
MALFORMED = ({"type": "int", "help": "a test's"}, "hyperparameters.json: broken has no 'default'")


@pytest.mark.deep
@pytest.mark.parametrize("broken", ["misspelled", "malformed"])
def test_train_stops_at_once_naming_a_misspelling_or_a_malformed_schema(opt_ml, tmp_path, broken):
    change, sentence = MISSPELLED if broken == "misspelled" else MALFORMED
    program = broken_program(tmp_path, **({"addition": change} if broken == "misspelled" else {"schema_entry": change}))
    result = subprocess.run([str(entry(program, "train"))], env=program_env(opt_ml), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    reason = (opt_ml / "output" / "failure").read_text()
    assert sentence in reason and "\n" not in reason, reason


@pytest.mark.deep
@pytest.mark.parametrize("broken", ["misspelled", "malformed"])
def test_serve_stops_at_once_naming_a_misspelling_or_a_malformed_schema(trained, tmp_path, broken):
    require_tool("nginx")
    change, sentence = MISSPELLED if broken == "misspelled" else MALFORMED
    program = broken_program(tmp_path, **({"addition": change} if broken == "misspelled" else {"schema_entry": change}))
    env = program_env(trained, SAGEMAKER_BIND_TO_PORT=free_port())
    result = subprocess.run([str(entry(program, "serve"))], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert sentence in result.stderr, result.stderr


@pytest.mark.deep
def test_train_stops_at_once_naming_the_missing_function(opt_ml, tmp_path):
    program = broken_program(tmp_path)
    result = subprocess.run([str(entry(program, "train"))], env=program_env(opt_ml), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    reason = (opt_ml / "output" / "failure").read_text()
    assert "defines no function predict(model, X)" in reason and "predict_fn" in reason, reason
    assert not (opt_ml / "model").exists() or not any((opt_ml / "model").iterdir())


@pytest.mark.deep
def test_serve_stops_at_once_naming_the_missing_function(trained, tmp_path):
    require_tool("nginx")
    program = broken_program(tmp_path)
    # serve exits by itself (the timeout only keeps a regression from hanging the run)
    env = program_env(trained, SAGEMAKER_BIND_TO_PORT=free_port())
    result = subprocess.run([str(entry(program, "serve"))], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "defines no function predict(model, X)" in result.stderr and "predict_fn" in result.stderr, result.stderr


HOOKS = '''

# A test's additions: raw lines of space-separated numbers in, labels joined by " | " out.
import numpy as np  # noqa: E402

INPUT_TYPES = ("text/plain",)
OUTPUT_TYPES = ("text/plain",)


def input_fn(body, content_type, context):
    rows = [line.split() for line in body.decode().splitlines() if line.strip()]
    try:
        return np.array(rows, dtype=float)
    except ValueError as exc:
        raise ValueError(f"each line must hold numbers separated by spaces ({exc})") from None


def output_fn(predictions, accept, context):
    return " | ".join(str(p) for p in predictions).encode()
'''


@numbers_only  # its hooks read numbers
def test_input_and_output_hooks_take_their_content_types(trained, tmp_path, sample_rows, expected):
    program = program_copy(tmp_path)
    source = (program / "model.py").read_text()
    (program / "model.py").write_text(source + HOOKS)
    server = start_server(trained, tmp_path, program=program)
    try:
        lines = "\n".join(" ".join(str(v) for v in row) for row in sample_rows.tolist()).encode()
        answer = requests.post(server.url + "/invocations", data=lines, timeout=30,
                               headers={"Content-Type": "text/plain", "Accept": "text/plain"})
        assert answer.status_code == 200, answer
        assert answer.text == " | ".join(str(v) for v in expected)
        bad = requests.post(server.url + "/invocations", data=b"1 2 x\n", timeout=30,
                            headers={"Content-Type": "text/plain"})
        assert bad.status_code == 400 and "numbers separated by spaces" in bad.json()["error"], bad
        empty = requests.post(server.url + "/invocations", data=b"", timeout=30, headers={"Content-Type": "text/plain"})
        assert empty.status_code == 400, empty
        csv = requests.post(server.url + "/invocations", data=SAMPLE_ROW, timeout=30,  # built-in types still work
                            headers={"Content-Type": "text/csv", "Accept": "text/csv"})
        assert csv.status_code == 200 and csv.text == str(expected[0]), csv
    finally:
        server.stop()


@pytest.mark.deep
def test_a_hook_without_its_types_is_refused():
    with pytest.raises(interface.InterfaceError, match="INPUT_TYPES and input_fn go together"):
        interface.check(complete(input_fn=lambda body, content_type, context: body))
    code = complete(output_fn=lambda predictions, accept, context: b"")
    code.OUTPUT_TYPES = ("Text/Plain",)
    with pytest.raises(interface.InterfaceError, match="media types"):
        interface.check(code)
