"""The Flask app behind gunicorn: /ping, /invocations, /execution-parameters and /metadata, and
with SAGEMAKER_MULTI_MODEL=true the multi-model API under /models instead of /invocations.

The model is loaded once per worker, when gunicorn imports wsgi.py, so /ping is
healthy only once predictions can be served, and answers in microseconds. A model
that fails to load leaves the worker up with /ping answering 503 and the reason
logged, so SageMaker reports a failed health check instead of a crash loop.
A multi-model container starts with no model: /ping is healthy once model.py is imported,
and models come and go through /models (contract/model_store.py).

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from contract import interface, model_artifact, model_store, payloads, serving
from contract.interface import ModelCode, RequestError
from contract.paths import Paths

log = logging.getLogger("predictor")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [pid %(process)d] %(message)s")

WORKERS = serving.workers()
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
BOOT_ERROR = 3  # gunicorn's "worker failed to boot": the master stops, and so does serve


def boot() -> Flask:
    """gunicorn's app (wsgi.py): model.py imported and checked once per worker, then the model loaded.

    A model.py that breaks the interface, or a setting the model cannot follow, is a bug to fix, so the
    worker exits and serve stops with the one sentence that names it; a model that fails to load leaves
    /ping at 503."""
    try:
        code = interface.load_model_code()
        return create_app(code)
    except (interface.InterfaceError, serving.SettingError) as exc:
        print(f"serve: {exc}", file=sys.stderr, flush=True)
        sys.exit(BOOT_ERROR)


def create_app(code: ModelCode) -> Flask:
    """The Flask app serving model.py's model from /opt/ml/model, or a multi-model container's models."""
    content_types, accept_order = served_types(code)  # a default type the model cannot answer stops here
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = serving.max_body_mb() * 1024 * 1024
    threads = serving.threads_per_worker(WORKERS)
    add_error_handlers(app)

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        return app.json.response(serving.execution_parameters(WORKERS))

    if serving.multi_model():  # a multi-model container has no /opt/ml/model
        add_multi_model_routes(app, code, threads, content_types, accept_order)
    else:
        add_single_model_routes(app, code, threads, content_types, accept_order)
    return app


def add_error_handlers(app: Flask) -> None:
    """Every error answered as JSON {"error": sentence}: HTTP's own, model.py's predict failing and
    anything unforeseen (both 500, with the traceback logged)."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(model_artifact.PredictionError)
    def prediction_error(exc: model_artifact.PredictionError) -> Response:
        log.error("%s", exc, exc_info=exc)  # the traceback of model.py's predict
        return error(500, str(exc))

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.exception("unexpected error")
        return error(500, f"internal error: {type(exc).__name__}: {exc}")


def add_single_model_routes(app: Flask, code: ModelCode, threads: int, content_types: list[str], accept_order):
    """/ping, /metadata and /invocations for the model in /opt/ml/model; one that fails to load leaves
    them at 503 with the reason (logged once, here)."""
    model, load_error = None, None
    try:
        model = model_artifact.load(code, Paths.from_env().model, threads)
    except model_artifact.ModelLoadError as exc:
        load_error = str(exc)
        log.error("model not loaded, /ping answers 503: %s", load_error, exc_info=exc if exc.traceback else None)

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200) if load_error is None else error(503, load_error)

    @app.get("/metadata")
    def model_metadata() -> Response:
        if model is None:
            return error(503, load_error)
        return app.json.response(metadata(model, content_types, accept_order))

    @app.post("/invocations")
    def invocations() -> Response:
        return error(503, load_error) if model is None else invoke(model, content_types, accept_order)

    @app.route("/models", methods=["GET", "POST"])
    @app.route("/models/<path:name>", methods=["GET", "DELETE"])
    @app.post("/models/<path:name>/invoke")
    def single_model(name: str = "") -> Response:
        return error(404, "this container serves one model (/invocations); SAGEMAKER_MULTI_MODEL=true serves many")


def add_multi_model_routes(app: Flask, code: ModelCode, threads: int, content_types: list[str], accept_order):
    """A multi-model container: healthy once model.py is imported, its models under /models."""

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200)

    @app.get("/metadata")
    def model_metadata() -> Response:
        return error(404, "this is a multi-model container: GET /models/{model_name}/metadata")

    @app.post("/invocations")
    def invocations() -> Response:
        return error(404, "this is a multi-model container: invoke POST /models/{model_name}/invoke")

    registry = Path(os.environ.get(serving.REGISTRY_VARIABLE) or tempfile.mkdtemp(prefix="models-"))
    add_model_routes(app, model_store.ModelStore(registry, code, threads, WORKERS), content_types, accept_order)


def served_types(code: ModelCode) -> tuple[list[str], list[str]]:
    """The request types served and the answer types, the default (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
    else CSV when answered) first. model.py's own types come first: its hooks may take over a built-in
    type too. A transform serves only its own types (it does the whole request)."""
    own_in, own_out = interface.constant(code, "INPUT_TYPES"), interface.constant(code, "OUTPUT_TYPES")
    if hasattr(code, "transform"):
        content_types, answerable = list(own_in), list(own_out)
    else:
        content_types = list(dict.fromkeys([*own_in, *payloads.CONTENT_TYPES]))
        answerable = list(dict.fromkeys([*own_out, *payloads.ACCEPT_TYPES]))
    default = serving.default_accept(answerable, payloads.CSV if payloads.CSV in answerable else answerable[0])
    return content_types, list(dict.fromkeys([default, *answerable]))


def add_model_routes(app: Flask, store: model_store.ModelStore, content_types: list[str], accept_order: list[str]):
    """The multi-model API (SageMaker's custom containers contract for multi-model endpoints)."""

    @app.errorhandler(model_store.StoreError)
    def store_error(exc: model_store.StoreError) -> Response:
        return error(exc.status, str(exc))

    @app.post("/models")
    def load_model() -> Response:
        body = request.get_json(force=True, silent=True)
        answer = store.load(body)
        log.info("loaded model %r from %s", answer["modelName"], answer["modelUrl"])
        return app.json.response(answer)

    @app.get("/models")
    def list_models() -> Response:
        return app.json.response(store.page(request.args.get("limit"), request.args.get("next_page_token")))

    @app.get("/models/<path:name>")
    def describe_model(name: str) -> Response:
        return app.json.response(store.describe(name))

    @app.delete("/models/<path:name>")
    def unload_model(name: str) -> Response:
        store.unload(name)
        log.info("unloaded model %r", name)
        return app.json.response({"modelName": name, "status": "unloaded"})

    @app.post("/models/<path:name>/invoke")
    def invoke_model(name: str) -> Response:
        return invoke(store.get(name), content_types, accept_order, name)

    @app.get("/models/<path:name>/metadata")
    def named_model_metadata(name: str) -> Response:
        return app.json.response(metadata(store.get(name), content_types, accept_order))


def metadata(model: model_artifact.Model, content_types: list[str], accept_order: list[str]) -> dict:
    """What a client may ask of the model: its task, labels, features and what it offers."""
    keys = ("framework", "task", "classes", "n_features", "feature_type", "feature_names", "columns", "versions")
    return {
        **{key: model.meta.get(key) for key in keys},
        "offers": model.offers,
        "content_types": content_types,
        "accept_types": list(dict.fromkeys(accept_order)),
    }


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, mimetype=payloads.JSON)


def call(what: str, function, *args):
    """model.py's input_fn, output_fn or transform: its RequestError is answered with its 4xx, a
    ValueError with 400 (a body it cannot read or answer); anything else propagates to the 500
    handler, which logs the traceback (predict's failures too, even inside a transform)."""
    try:
        return function(*args)
    except RequestError:
        raise
    except ValueError as exc:
        raise RequestError(f"{what}: {exc}") from None


def predicting(what: str, function, features):
    """model.py's predict or predict_proba on rows the contract has checked: its RequestError is its 4xx;
    any other exception is a bug in model.py, a PredictionError (500, its traceback logged), but for a
    ValueError on rows with missing values, which the model refuses (a 400: model.json cannot tell)."""
    try:
        return function(features)
    except (RequestError, model_artifact.PredictionError):
        raise
    except ValueError as exc:
        if has_missing(features):
            raise RequestError(
                f"this model does not take missing values (an empty cell, NaN or null): send every feature "
                f"(model.py's {what} raised ValueError: {exc})"
            ) from None
        raise model_artifact.PredictionError(f"model.py's {what} raised ValueError: {exc}") from exc
    except Exception as exc:
        raise model_artifact.PredictionError(f"model.py's {what} raised {type(exc).__name__}: {exc}") from exc


def has_missing(features) -> bool:
    """Whether rows (a number matrix or a table) hold a missing value; asked only once predict failed."""
    if hasattr(features, "isna"):
        return bool(features.isna().to_numpy().any())
    array = np.asarray(features)
    return array.dtype.kind == "f" and bool(np.isnan(array).any())


def context_for(model: model_artifact.Model, target_model: str | None, attributes: dict[str, str]) -> interface.Context:
    meta = model.meta
    return interface.Context(
        framework=meta.get("framework", ""),
        task=model.task,
        classes=None if model.classes is None else tuple(model.classes.tolist()),
        feature_names=model.feature_names,
        columns=meta.get("columns"),
        offers=dict(model.offers),
        custom_attributes=attributes,
        target_model=target_model,
        asked_probabilities=wants_probabilities(attributes),
        estimator=model.estimator,
        _predict=lambda features: predicting("predict", model.predict, features),
        _probabilities=lambda features: predicting("predict_proba", model.predict_proba, features),
    )


def negotiate(code: ModelCode, content_types: list[str], accept_order: list[str]) -> tuple[str, str]:
    """The request's Content-Type and the answer's type. model.py's OUTPUT_TYPES are chosen only when
    the Accept header names one exactly (or it is the default): a wildcard gets a built-in type."""
    content_type = request.mimetype or payloads.CSV
    if content_type not in content_types:
        raise RequestError(
            f"Content-Type {content_type} is not supported; use one of {', '.join(content_types)}", 415
        )
    if not request.accept_mimetypes:
        return content_type, accept_order[0]
    named = {value.lower() for value, quality in request.accept_mimetypes if quality > 0}
    own = () if hasattr(code, "transform") else interface.constant(code, "OUTPUT_TYPES")
    candidates = [t for t in accept_order if t in named or t == accept_order[0] or t not in own]
    accept = request.accept_mimetypes.best_match(candidates)
    if accept is None:
        accepted = ", ".join(accept_order)
        raise RequestError(f"cannot answer in {request.headers.get('Accept')}; accept one of {accepted}", 406)
    return content_type, accept


def invoke(model: model_artifact.Model, content_types: list[str], accept_order: list[str], target_model=None):
    """One request: decode, check, predict, encode; every refusal a 4xx with a sentence."""
    try:
        return respond(model, content_types, accept_order, target_model)
    except RequestError as exc:  # the contract's refusals and model.py's
        return error(exc.status, str(exc))


def respond(model: model_artifact.Model, content_types: list[str], accept_order: list[str], target_model) -> Response:
    code = model.code
    content_type, accept = negotiate(code, content_types, accept_order)
    body = request.get_data()
    attributes = custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES, ""))
    # A context only for model.py's hooks: a model.py without them pays nothing for it per request.
    context = context_for(model, target_model, attributes) if model.hooked else None
    if hasattr(code, "transform") or content_type in interface.constant(code, "INPUT_TYPES"):
        if not body.strip():
            raise RequestError("the request body is empty; send at least one row")
    if hasattr(code, "transform"):
        answer = call(f"cannot answer this {content_type} body", code.transform, body, content_type, accept, context)
        return Response(answer, status=200, mimetype=accept)
    if content_type in interface.constant(code, "INPUT_TYPES"):
        features = call(f"cannot read this {content_type} body", code.input_fn, body, content_type, context)
        features = checked_width(model, features)
    else:
        features = decoded(model, body, content_type)
    if context is not None:
        context._rows["features"] = features
    asked = wants_probabilities(attributes)
    if asked and not model.has_probabilities:
        raise RequestError(model.no_probabilities())
    predictions = predicting("predict", model.predict, features)
    if accept in interface.constant(code, "OUTPUT_TYPES"):
        answer = call(f"cannot answer in {accept}", code.output_fn, predictions, accept, context)
    else:
        probabilities = predicting("predict_proba", model.predict_proba, features) if asked else None
        answer = payloads.encode(accept, predictions, probabilities, model.classes)
    return Response(answer, status=200, mimetype=accept)


def decoded(model: model_artifact.Model, body: bytes, content_type: str):
    """The body as the model's rows by the built-in formats; RequestError for a bad one."""
    try:
        charset = request.mimetype_params.get("charset")
        features = model.decode(body, content_type, charset)
    except payloads.PayloadError as exc:
        raise RequestError(str(exc)) from None
    return checked_width(model, features)


def checked_width(model: model_artifact.Model, features):
    """Rows of as many features as the model was trained on (model.json's n_features), or a 400 before
    predict: a wrong width is the client's mistake, not a failure of the model."""
    shape = getattr(features, "shape", ())
    if len(shape) == 2 and shape[1] != model.n_features:
        raise RequestError(f"each row needs {model.n_features} features, this request has {shape[1]}")
    return features


def custom_attributes(header: str) -> dict[str, str]:
    """The X-Amzn-SageMaker-Custom-Attributes header's key=value pairs (split by , or ;)."""
    pairs = (item.partition("=") for item in header.replace(";", ",").split(","))
    return {key.strip(): value.strip() for key, _, value in pairs if key.strip()}


def wants_probabilities(attributes: dict[str, str]) -> bool:
    """`probabilities=true` among the custom attributes."""
    for key, value in attributes.items():
        if key.lower() == "probabilities":
            return value.lower() in ("", "true", "1", "yes")
    return False
