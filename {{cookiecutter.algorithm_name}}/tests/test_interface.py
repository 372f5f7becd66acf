"""The seam between the contract and model.py: checked when train and serve start.

A model.py that lacks a function the contract calls, or names it otherwise, must stop `train`
(with the reason in /opt/ml/output/failure) and `serve` at once, with one sentence naming it.
"""

import subprocess
import types
from pathlib import Path

import pytest
import requests
from conftest import SAMPLE_ROW, entry, free_port, numbers_only, program_copy, program_env, require_tool, start_server

from contract import interface


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


def broken_program(tmp_path: Path) -> Path:
    """A copy of the program folder whose model.py calls its predict function predict_fn."""
    program = program_copy(tmp_path)
    source = (program / "model.py").read_text()
    assert "\ndef predict(" in source
    (program / "model.py").write_text(source.replace("\ndef predict(", "\ndef predict_fn("))
    return program


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
