"""The Flask app behind gunicorn: /ping, /invocations and /execution-parameters, and with
SAGEMAKER_MULTI_MODEL=true the multi-model API under /models instead of /invocations.

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
from types import ModuleType

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from contract import interface, model_artifact, model_store, payloads, serving
from contract.paths import Paths

log = logging.getLogger("predictor")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [pid %(process)d] %(message)s")

WORKERS = serving.workers()
DEFAULT_ACCEPT = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", payloads.CSV)
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
BOOT_ERROR = 3  # gunicorn's "worker failed to boot": the master stops, and so does serve


def boot() -> Flask:
    """gunicorn's app (wsgi.py): model.py imported and checked once per worker, then the model loaded.

    A model.py that breaks the interface is a bug to fix, so the worker exits and serve stops
    with the one sentence that names it; a model that fails to load leaves /ping at 503."""
    try:
        code = interface.load_model_code()
    except interface.InterfaceError as exc:
        print(f"serve: {exc}", file=sys.stderr, flush=True)
        sys.exit(BOOT_ERROR)
    return create_app(code)


def create_app(code: ModuleType) -> Flask:
    """The Flask app serving model.py's model from /opt/ml/model, or a multi-model container's models."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = serving.max_body_mb() * 1024 * 1024
    threads = serving.threads_per_worker(WORKERS)
    multi_model = serving.multi_model()
    model, load_error = None, None
    if not multi_model:  # a multi-model container has no /opt/ml/model
        try:
            model = model_artifact.load(code, Paths.from_env().model, threads)
        except model_artifact.ModelLoadError as exc:
            load_error = str(exc)
            log.error("model not loaded, /ping answers 503: %s", load_error)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.exception("unexpected error")
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get("/ping")
    def ping() -> Response:
        if load_error is not None:
            return error(503, load_error)
        return Response(status=200)

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        return app.json.response(serving.execution_parameters(WORKERS))

    # model.py's own types first: its hooks may take over a built-in type too.
    content_types = list(dict.fromkeys([*interface.constant(code, "INPUT_TYPES"), *payloads.CONTENT_TYPES]))
    offered = [*interface.constant(code, "OUTPUT_TYPES"), *payloads.ACCEPT_TYPES]
    accept_order = list(dict.fromkeys([DEFAULT_ACCEPT, *offered]))

    @app.post("/invocations")
    def invocations() -> Response:
        if multi_model:
            return error(404, "this is a multi-model container: invoke POST /models/{model_name}/invoke")
        if model is None:
            return error(503, load_error)
        return invoke(model, content_types, accept_order)

    if multi_model:
        registry = Path(os.environ.get(serving.REGISTRY_VARIABLE) or tempfile.mkdtemp(prefix="models-"))
        add_model_routes(app, model_store.ModelStore(registry, code, threads, WORKERS), content_types, accept_order)
    else:

        @app.route("/models", methods=["GET", "POST"])
        @app.route("/models/<path:name>", methods=["GET", "DELETE"])
        @app.post("/models/<path:name>/invoke")
        def single_model(name: str = "") -> Response:
            return error(404, "this container serves one model (/invocations); SAGEMAKER_MULTI_MODEL=true serves many")

    return app


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
        return invoke(store.get(name), content_types, accept_order)


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, mimetype=payloads.JSON)


def invoke(model: model_artifact.Model, content_types: list[str], accept_order: list[str]) -> Response:
    """One request: decode, check, predict, encode; every refusal a 4xx with a sentence."""
    code = model.code
    content_type = request.mimetype or payloads.CSV
    if content_type not in content_types:
        return error(415, f"Content-Type {content_type} is not supported; use one of {', '.join(content_types)}")
    accept = request.accept_mimetypes.best_match(accept_order) if request.accept_mimetypes else DEFAULT_ACCEPT
    if accept is None:
        return error(406, f"cannot answer in {request.headers.get('Accept')}; accept one of {', '.join(accept_order)}")
    body = request.get_data()
    if content_type in interface.constant(code, "INPUT_TYPES"):
        if not body.strip():
            return error(400, "the request body is empty; send at least one row")
        try:
            features = code.input_fn(body, content_type)
        except ValueError as exc:
            return error(400, f"cannot read this {content_type} body: {exc}")
    else:
        try:
            charset = request.mimetype_params.get("charset")
            features = payloads.decode(
                body, content_type, charset, model.feature_names, model.feature_type, columns=model.columns
            )
        except payloads.PayloadError as exc:
            return error(400, str(exc))
        if features.shape[1] != model.n_features:
            return error(400, f"each row needs {model.n_features} features, this request has {features.shape[1]}")
    want_probabilities = wants_probabilities(request.headers.get(CUSTOM_ATTRIBUTES, ""))
    if want_probabilities and not model.has_probabilities:
        return error(400, "probabilities exist only for classification models whose model.py has predict_proba")
    try:
        predictions = model.predict(features)
        probabilities = model.predict_proba(features) if want_probabilities else None
    except ValueError as exc:  # e.g. infinite or overflowing features
        return error(400, f"cannot predict for these features: {exc}")
    if accept in interface.constant(code, "OUTPUT_TYPES"):
        answer = code.output_fn(predictions, probabilities, accept)
    else:
        answer = payloads.encode(accept, predictions, probabilities, model.classes)
    return Response(answer, status=200, mimetype=accept)


def wants_probabilities(custom_attributes: str) -> bool:
    """`probabilities=true` among the custom attributes (key=value pairs split by , or ;)."""
    for item in custom_attributes.replace(";", ",").split(","):
        key, _, value = item.partition("=")
        if key.strip().lower() == "probabilities":
            return value.strip().lower() in ("", "true", "1", "yes")
    return False
