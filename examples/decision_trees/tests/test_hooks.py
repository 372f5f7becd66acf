"""model.py's serving hooks (input_fn, output_fn, transform, offers) and answers of k values per
row, through the real Flask app (werkzeug parses the headers), over a small numpy model that
model_artifact saves and checks as `train` does. The project's own model plays no part: these
are the contract's rules, whatever model.py holds."""

import io
import json
import logging
import shutil
import types
from pathlib import Path

import numpy as np
import pytest

from contract import interface, model_artifact, predictor, serving, training
from contract.paths import Paths
from contract.payloads import ACCEPT_TYPES

pytestmark = pytest.mark.deep  # in-process and fast, but about the contract, not your model (make test-all)

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [1.0, 2.0, 3.0, 4.0]])
CSV_BODY = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n1,2,3,4\n"
CLASSES = ["setosa", "versicolor", "virginica"]
WEIGHTS = np.array([[0.3, -0.2, 0.1], [0.1, 0.4, -0.3], [-0.5, 0.2, 0.6], [0.2, -0.1, 0.3]])


def numpy_model(width: int | None = None, **hooks) -> types.ModuleType:
    """A linear model in numpy: class codes (classification) or values (regression); with width,
    a row of `width` per input row (the top classes' codes, or the first outputs)."""
    code = types.ModuleType("model")
    code.__file__ = "model.py"

    def predict(weights, X):
        scores = np.asarray(X, dtype=float) @ weights
        if width is None:
            return scores.argmax(axis=1) if code.TASK == "classification" else scores[:, 0]
        return np.argsort(-scores, axis=1)[:, :width] if code.TASK == "classification" else scores[:, :width]

    def predict_proba(weights, X):
        scores = np.exp(np.asarray(X, dtype=float) @ weights)
        return scores / scores.sum(axis=1, keepdims=True)

    code.fit = lambda params, train, validation, job: WEIGHTS
    code.save = lambda weights, directory: np.save(directory / "weights.npy", weights)
    code.load = lambda directory, threads: np.load(directory / "weights.npy")
    code.predict, code.predict_proba = predict, predict_proba
    code.TASK = "classification"
    for name, value in hooks.items():
        setattr(code, name, value)
    return interface.check(code)


def client(tmp_path: Path, monkeypatch, code: types.ModuleType, **env):
    meta = {
        "task": code.TASK,
        "classes": CLASSES if code.TASK == "classification" else None,
        "n_features": ROWS.shape[1],
        "feature_type": "number",
        "feature_names": None,
        "hyperparameters": {},
        "versions": {},
    }
    model_artifact.save(code, tmp_path / "model", WEIGHTS, meta, ROWS[:2], 1)
    monkeypatch.setenv("OPT_ML", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return predictor.create_app(code).test_client()


def post(app, body=CSV_BODY, content_type="text/csv", accept=None, attributes=None):
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    if attributes is not None:
        headers[predictor.CUSTOM_ATTRIBUTES] = attributes
    return app.post("/invocations", data=body, headers=headers)


TOP = "application/vnd.top+json"


def test_output_fn_gets_the_labels_and_probabilities_without_the_client_asking(tmp_path, monkeypatch):
    def output_fn(predictions, accept, context):
        return json.dumps({
            "classes": context.classes,
            "top": context.probabilities().max(axis=1).round(6).tolist(),
            "asked": context.asked_probabilities,
            "attributes": context.custom_attributes,
            "target": context.target_model,
            "labels": predictions.tolist(),
        }).encode()

    app = client(tmp_path, monkeypatch, numpy_model(OUTPUT_TYPES=(TOP,), output_fn=output_fn))
    answer = post(app, accept=TOP, attributes="trace=abc; k=2")
    assert answer.status_code == 200, answer.text
    body = answer.json
    probabilities = numpy_model().predict_proba(WEIGHTS, ROWS)
    assert body["classes"] == CLASSES and body["asked"] is False and body["target"] is None
    assert body["top"] == probabilities.max(axis=1).round(6).tolist()
    assert body["labels"] == np.array(CLASSES)[probabilities.argmax(axis=1)].tolist()
    assert body["attributes"] == {"trace": "abc", "k": "2"}


def test_a_request_error_is_answered_with_its_status_and_a_value_error_with_400(tmp_path, monkeypatch):
    def input_fn(body, content_type, context):
        if body.startswith(b"big"):
            raise interface.RequestError("at most 10 lines, please", status=413)
        if body.startswith(b"bad"):
            raise ValueError("lines must hold numbers")
        return np.loadtxt(io.BytesIO(body), ndmin=2)

    def output_fn(predictions, accept, context):
        raise ValueError(f"cannot write {accept} for {len(predictions)} rows")

    code = numpy_model(INPUT_TYPES=("text/plain",), input_fn=input_fn, OUTPUT_TYPES=(TOP,), output_fn=output_fn)
    app = client(tmp_path, monkeypatch, code)
    refused = post(app, b"big\n", "text/plain")
    assert refused.status_code == 413 and refused.json["error"] == "at most 10 lines, please"
    bad = post(app, b"bad\n", "text/plain")
    assert bad.status_code == 400 and "lines must hold numbers" in bad.json["error"]
    unwritable = post(app, accept=TOP)
    assert unwritable.status_code == 400 and "cannot write application/vnd.top+json" in unwritable.json["error"]
    assert post(app, b"1 2 3 4\n", "text/plain").status_code == 200  # built-in answers still work
    with pytest.raises(ValueError, match="4xx"):
        interface.RequestError("no", status=500)


def test_any_other_exception_from_a_hook_is_a_500_with_the_traceback_logged(tmp_path, monkeypatch, caplog):
    def output_fn(predictions, accept, context):
        return {"not": "bytes"}["missing"]

    app = client(tmp_path, monkeypatch, numpy_model(OUTPUT_TYPES=(TOP,), output_fn=output_fn))
    with caplog.at_level(logging.ERROR, logger="predictor"):
        answer = post(app, accept=TOP)
    assert answer.status_code == 500 and "KeyError" in answer.json["error"]
    assert "Traceback" not in answer.text
    assert any(record.exc_info and record.exc_info[0] is KeyError for record in caplog.records)


@pytest.mark.parametrize(
    "accept, chosen",
    [
        ("*/*", "text/csv"),
        ("application/*", "application/json"),
        ("application/*, text/csv;q=0.5", "application/json"),
        (TOP, TOP),
        (f"{TOP}, */*", TOP),
        (f"{TOP};q=0.5, text/csv", "text/csv"),
    ],
)
def test_a_custom_output_type_is_chosen_only_when_named(tmp_path, monkeypatch, accept, chosen):
    code = numpy_model(OUTPUT_TYPES=(TOP,), output_fn=lambda predictions, accept, context: b"[]")
    answer = post(client(tmp_path, monkeypatch, code), accept=accept)
    assert answer.status_code == 200 and answer.mimetype == chosen, (answer.status_code, answer.mimetype)


def test_a_custom_default_accept_is_chosen_for_a_wildcard(tmp_path, monkeypatch):
    code = numpy_model(OUTPUT_TYPES=(TOP,), output_fn=lambda predictions, accept, context: b"[]")
    app = client(tmp_path, monkeypatch, code, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=TOP)
    assert post(app, accept="*/*").mimetype == TOP
    assert post(app).mimetype == TOP


@pytest.mark.parametrize(
    "hooks, value",
    [
        ({}, "application/xml"),  # answered by nothing
        ({}, TOP),  # a type of model.py's output_fn, but this model.py has none
        ({"transform": lambda body, content_type, accept, context: b"", "INPUT_TYPES": ("text/plain",),
          "OUTPUT_TYPES": ("text/plain",)}, "text/csv"),  # a transform answers only its own types
    ],
)  # fmt: skip
def test_a_default_accept_the_model_cannot_answer_stops_serving_with_a_sentence(tmp_path, monkeypatch, hooks, value):
    with pytest.raises(serving.SettingError) as raised:
        client(tmp_path, monkeypatch, numpy_model(**hooks), SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=value)
    assert str(raised.value).startswith(f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={value!r} is not a type this model")


def failing_predict(exc: Exception):
    def predict(weights, X):
        raise exc

    return predict


@pytest.mark.parametrize("exc", [ValueError("shapes (3,4) and (5,3) not aligned"), KeyError("weights")])
def test_an_exception_from_predict_is_a_500_naming_it_with_the_traceback_logged(tmp_path, monkeypatch, caplog, exc):
    app = client(tmp_path, monkeypatch, numpy_model())
    monkeypatch.setattr(model_artifact.Model, "predict", lambda self, X: failing_predict(exc)(self.estimator, X))
    with caplog.at_level(logging.ERROR, logger="predictor"):
        answer = post(app)
    assert answer.status_code == 500, answer.text
    assert answer.json["error"] == f"model.py's predict raised {type(exc).__name__}: {exc}"
    assert any(record.exc_info and record.exc_info[1].__cause__ is exc for record in caplog.records)


def test_a_value_error_from_predict_inside_a_transform_is_a_500_too(tmp_path, monkeypatch):
    def transform(body, content_type, accept, context):
        return str(context.predict(np.zeros((1, 5)))).encode()  # a bug: the wrong width

    code = numpy_model(transform=transform, INPUT_TYPES=("text/plain",), OUTPUT_TYPES=("text/plain",))
    answer = post(client(tmp_path, monkeypatch, code), b"1 2 3 4\n", "text/plain")
    assert answer.status_code == 500 and answer.json["error"].startswith("model.py's predict raised ValueError")


def test_rows_with_missing_values_the_model_refuses_are_a_400(tmp_path, monkeypatch):
    def predict(weights, X):
        if np.isnan(X).any():
            raise ValueError("Input X contains NaN")
        return (np.asarray(X) @ weights).argmax(axis=1)

    app = client(tmp_path, monkeypatch, numpy_model(predict=predict))
    answer = post(app, b"5.1,,1.4,0.2\n")
    assert answer.status_code == 400, answer.text
    assert answer.json["error"].startswith("this model does not take missing values (an empty cell, NaN or null)")
    assert post(app).status_code == 200


def test_a_request_error_from_predict_keeps_its_status(tmp_path, monkeypatch):
    def predict(weights, X):
        if len(X) > 2:
            raise interface.RequestError("at most 2 rows", status=413)
        return (np.asarray(X) @ weights).argmax(axis=1)

    answer = post(client(tmp_path, monkeypatch, numpy_model(predict=predict)))
    assert answer.status_code == 413 and answer.json["error"] == "at most 2 rows"


def test_input_fn_rows_of_the_wrong_width_are_a_400_before_predict(tmp_path, monkeypatch):
    code = numpy_model(INPUT_TYPES=("text/plain",), input_fn=lambda body, content_type, context: np.zeros((1, 3)))
    answer = post(client(tmp_path, monkeypatch, code), b"1 2 3\n", "text/plain")
    assert answer.status_code == 400 and answer.json["error"] == "each row needs 4 features, this request has 3"


def loading(exc: Exception):
    def load(directory, threads):
        raise exc

    return load


@pytest.mark.parametrize(
    "exc, sentence, traceback",
    [
        (ModuleNotFoundError("No module named 'catboost'", name="catboost"),
         "model.py's load could not import catboost: add it to requirements.txt", False),
        (EOFError("Ran out of input"), "a file is missing, truncated or corrupt: train the model again", False),
        (FileNotFoundError(2, "No such file or directory"), "a file is missing, truncated or corrupt", False),
        (model_artifact.SaveError("the format will not load model.bin: ..."), "will not load model.bin", False),
        (AttributeError("'Booster' object has no attribute 'x'"),
         "model.py's load raised AttributeError: 'Booster' object has no attribute 'x'", True),
    ],
)  # fmt: skip
def test_a_failed_load_says_what_failed(tmp_path, monkeypatch, caplog, exc, sentence, traceback):
    code = numpy_model()
    client(tmp_path, monkeypatch, code)  # a model saved as train does
    monkeypatch.setattr(code, "load", loading(exc))
    with pytest.raises(model_artifact.ModelLoadError) as raised:
        model_artifact.load(code, tmp_path / "model")
    assert sentence in str(raised.value) and raised.value.traceback == traceback
    with caplog.at_level(logging.ERROR, logger="predictor"):
        app = predictor.create_app(code).test_client()
    ping = app.get("/ping")
    assert ping.status_code == 503 and sentence in ping.json["error"]
    assert any(record.exc_info for record in caplog.records) == traceback  # a bug's traceback, only


def transform(body, content_type, accept, context):
    rows = np.array([line.split() for line in body.decode().splitlines()], dtype=float)  # ValueError: 400
    labels = context.predict(rows)
    confidence = context.probabilities(rows).max(axis=1)
    return "\n".join(f"{label} {p:.3f}" for label, p in zip(labels, confidence, strict=True)).encode()


def test_transform_takes_the_whole_request_within_the_contracts_limits(tmp_path, monkeypatch):
    code = numpy_model(transform=transform, INPUT_TYPES=("text/plain",), OUTPUT_TYPES=("text/plain",))
    app = client(tmp_path, monkeypatch, code, MAX_BODY_MB="1")
    lines = CSV_BODY.replace(b",", b" ")
    answer = post(app, lines, "text/plain", accept="*/*")
    assert answer.status_code == 200 and answer.mimetype == "text/plain", answer.text
    probabilities = numpy_model().predict_proba(WEIGHTS, ROWS)
    assert answer.text.split("\n") == [
        f"{CLASSES[i]} {p:.3f}" for i, p in zip(probabilities.argmax(axis=1), probabilities.max(axis=1), strict=True)
    ]
    assert post(app, b"  \n", "text/plain").status_code == 400  # empty
    assert post(app, b"1 2 x\n", "text/plain").status_code == 400  # its ValueError
    assert post(app, CSV_BODY, "text/csv").status_code == 415  # only its own types
    assert post(app, lines, "text/plain", accept="application/json").status_code == 406
    assert post(app, b"1 " * (600 * 1024), "text/plain").status_code == 413  # MAX_BODY_MB
    assert app.get("/metadata").json["offers"]["output_types"] == ["text/plain"]


def test_transform_replaces_the_other_hooks():
    with pytest.raises(interface.InterfaceError, match="transform handles the whole request"):
        numpy_model(transform=transform, INPUT_TYPES=("text/plain",), OUTPUT_TYPES=("text/plain",),
                    input_fn=lambda body, content_type, context: body)  # fmt: skip
    with pytest.raises(interface.InterfaceError, match="transform needs OUTPUT_TYPES"):
        numpy_model(transform=transform, INPUT_TYPES=("text/plain",))


def test_hooks_of_the_old_signature_are_named_with_the_new_one():
    with pytest.raises(interface.InterfaceError, match=r"old signature; the contract now calls output_fn\(predictions, "
                                                       r"accept, context\)"):  # fmt: skip
        numpy_model(OUTPUT_TYPES=(TOP,), output_fn=lambda predictions, probabilities, accept: b"")
    with pytest.raises(interface.InterfaceError, match=r"input_fn\(body, content_type, context\)"):
        numpy_model(INPUT_TYPES=("text/plain",), input_fn=lambda body, content_type: body)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_row_of_k_answers_in_every_built_in_type(tmp_path, monkeypatch, task):
    code = numpy_model(width=2, TASK=task)
    app = client(tmp_path, monkeypatch, code)
    raw = code.predict(WEIGHTS, ROWS)
    expected = np.array(CLASSES)[raw].tolist() if task == "classification" else raw.tolist()
    lines = post(app, accept="text/csv").text.split("\n")
    assert [line.split(",") for line in lines] == [[str(v) for v in row] for row in expected]
    assert post(app, accept="application/json").json["predictions"] == expected
    jsonlines = post(app, accept="application/jsonlines").text.split("\n")
    assert [json.loads(line)["prediction"] for line in jsonlines] == expected
    array = np.load(io.BytesIO(post(app, accept="application/x-npy").data), allow_pickle=False)
    assert array.shape == (3, 2) and array.tolist() == expected
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["offers"]["output_width"] == 2
    if task == "classification":  # probabilities appended after the k labels
        cells = post(app, attributes="probabilities=true").text.split("\n")[0].split(",")
        assert len(cells) == 2 + len(CLASSES)


def test_a_model_that_offers_no_probabilities_refuses_them_saying_why(tmp_path, monkeypatch):
    def output_fn(predictions, accept, context):
        return context.probabilities().tobytes()  # a RequestError here: this model has none

    code = numpy_model(offers=lambda weights: {"probabilities": False}, OUTPUT_TYPES=(TOP,), output_fn=output_fn)
    app = client(tmp_path, monkeypatch, code)
    refused = post(app, attributes="probabilities=true")
    assert refused.status_code == 400 and "ndarray has no predict_proba" in refused.json["error"]
    assert post(app).status_code == 200
    in_a_hook = post(app, accept=TOP)
    assert in_a_hook.status_code == 400 and "ndarray has no predict_proba" in in_a_hook.json["error"]
    assert json.loads((tmp_path / "model" / "model.json").read_text())["offers"]["probabilities"] is False


def test_metadata_says_what_the_model_offers(tmp_path, monkeypatch):
    app = client(tmp_path, monkeypatch, numpy_model(OUTPUT_TYPES=(TOP,), output_fn=lambda p, accept, context: b""))
    answer = app.get("/metadata")
    assert answer.status_code == 200
    body = answer.json
    assert body["task"] == "classification" and body["classes"] == CLASSES and body["n_features"] == 4
    assert body["offers"] == {"probabilities": True, "output_width": None, "output_types": [TOP, *ACCEPT_TYPES]}
    assert body["accept_types"][:2] == ["text/csv", TOP]


def test_a_multi_model_hook_knows_the_target_model(tmp_path, monkeypatch):
    def output_fn(predictions, accept, context):
        return context.target_model.encode()

    code = numpy_model(OUTPUT_TYPES=(TOP,), output_fn=output_fn)
    app = client(tmp_path, monkeypatch, code, SAGEMAKER_MULTI_MODEL="true", MULTI_MODEL_REGISTRY=str(tmp_path / "r"))
    loaded = app.post("/models", json={"model_name": "m/one.tar.gz", "url": str(tmp_path / "model")})
    assert loaded.status_code == 200, loaded.text
    answer = app.post("/models/m/one.tar.gz/invoke", data=CSV_BODY, headers={"Content-Type": "text/csv", "Accept": TOP})
    assert answer.status_code == 200 and answer.text == "m/one.tar.gz"
    assert app.get("/models/m/one.tar.gz/metadata").json["classes"] == CLASSES
    assert app.get("/metadata").status_code == 404


def test_training_keeps_a_model_that_answers_k_values_a_row(opt_ml, capsys):
    """The data still has one label column (fit may derive k targets from it): train skips the
    final metrics, which compare one answer to one label, and records the width in model.json."""
    rng = np.random.default_rng(0)
    rows = [f"{CLASSES[i % 3]}," + ",".join(f"{v:.3f}" for v in rng.normal(size=4)) for i in range(30)]
    for channel in ("training", "validation"):
        shutil.rmtree(opt_ml / "input" / "data" / channel)
        (opt_ml / "input" / "data" / channel).mkdir()
        (opt_ml / "input" / "data" / channel / "part.csv").write_text("\n".join(rows) + "\n")
    training.train(Paths(opt_ml), numpy_model(width=2))
    assert "no final metrics: the model answers 2 values a row" in capsys.readouterr().out
    meta = json.loads((opt_ml / "model" / "model.json").read_text())
    assert meta["offers"] == {"probabilities": True, "output_width": 2, "output_types": list(ACCEPT_TYPES)}
