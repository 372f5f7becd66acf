"""The seam between the SageMaker contract and your model: what model.py provides, declared once.

The contract (this package) reads /opt/ml, types hyperparameters, maps labels to class codes,
serves HTTP and handles every failure; model.py only fits, saves, loads and predicts. `train`
and `serve` load model.py once through `load_model_code()`, which checks it against
`ModelCode` below, so a missing or misnamed function stops the program at once with one
sentence naming it, not with an AttributeError in the middle of a job or a request.
`ModelCode` is the one declaration: the functions the contract calls (those marked
@optional may be left out) and the constants it reads, with their types and defaults;
REQUIRED, OPTIONAL, HOOKS and CONSTANTS below are derived from it.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import difflib
import importlib
import importlib.util
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, UnionType
from typing import Any, Protocol, cast, get_origin

import numpy as np

from contract import hyperparameters

MODULE = "model"  # model.py in your folder (paths.PROGRAM, on sys.path)


@dataclass(frozen=True)
class Data:
    """One channel's rows, as `fit` receives them."""

    # One row per record: float64 features (NaN marks a missing value), or with FEATURE_TYPE =
    # "text" the CSV cells as str (dtype object; an empty cell is ""); with COLUMNS, a pandas
    # DataFrame by header name (the label column left out).
    X: Any
    y: np.ndarray  # class codes 0..k-1 (classification) or float targets (regression)
    feature_names: tuple[str, ...] | None = None  # the CSV header's names of X's columns, if it had one


class Group(Protocol):
    """The hosts training one model together, inside join (one host: cluster.SingleHost). A group may
    also set whole_validation = True: every host then reads all of the validation channel."""

    rank: int  # this host's place, 0 .. world-1
    world: int  # the hosts training together

    def union(self, values: list[str]) -> list[str]:
        """Every host's values together (sorted, without repeats)."""

    def every(self, flag: bool) -> bool:
        """True if the flag is true on every host."""


@dataclass(frozen=True)
class Job:
    """What the contract decided about this training job."""

    task: str  # "classification" or "regression"
    n_classes: int  # 0 for regression
    threads: int  # cores this host may use


class RequestError(Exception):
    """Raised on purpose by a hook (input_fn, output_fn, transform, predict): the request is
    answered with `status` (a 4xx) and this message. A ValueError from input_fn, output_fn or
    transform is answered 400 the same way (a body it cannot read or answer); from predict or
    predict_proba it is a bug in model.py, as is any other exception: 500, with the traceback in the
    log (but for rows with missing values, which the model refuses: 400)."""

    def __init__(self, message: str, status: int = 400):
        if not 400 <= status <= 499:
            raise ValueError(f"RequestError's status must be a 4xx, not {status}")
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Context:
    """What a serving hook knows of the model and of the request (one per request)."""

    framework: str
    task: str  # "classification" or "regression"
    classes: tuple[str, ...] | None  # your labels, in the order of predict_proba's columns
    feature_names: tuple[str, ...] | None  # the training header's names, if it had one
    columns: Any  # model.json's "columns" (the table's column kinds) when training recorded them
    offers: dict[str, Any]  # what the model offers (model.json's "offers": probabilities, output_width)
    custom_attributes: dict[str, str]  # the X-Amzn-SageMaker-Custom-Attributes header's key=value pairs
    target_model: str | None  # the model's name on a multi-model endpoint, None otherwise
    asked_probabilities: bool  # the client sent probabilities=true
    estimator: Any = field(repr=False)  # what model.py's load returned
    _predict: Callable[[Any], np.ndarray] = field(repr=False)
    _probabilities: Callable[[Any], np.ndarray] = field(repr=False)
    _rows: dict = field(default_factory=dict, repr=False)  # this request's decoded rows and cached answers

    def predict(self, features: Any) -> np.ndarray:
        """Your labels (classification) or values (regression) for these rows, checked as for a request."""
        return self._predict(features)

    def probabilities(self, features: Any = None) -> np.ndarray:
        """(n_rows, n_classes) probabilities for these rows (default: this request's rows, computed
        once); RequestError 400 saying why when the model has none."""
        if features is not None:
            return self._probabilities(features)
        if "probabilities" not in self._rows:
            if "features" not in self._rows:
                raise RuntimeError("context.probabilities() knows this request's rows only after input_fn")
            self._rows["probabilities"] = self._probabilities(self._rows["features"])
        return self._rows["probabilities"]


def optional(types: str | None = None) -> Callable[[Callable], Callable]:
    """Marks a function of ModelCode that model.py may leave out; `types`: the constant that must
    come with it (its media types), and without which it must not be defined."""

    def mark(function: Callable) -> Callable:
        function.optional, function.types = True, types  # type: ignore[attr-defined]
        return function

    return mark


class ModelCode(Protocol):
    """What model.py must define (required), may define (@optional, the default used without it) and
    may set (the constants, with their types and defaults)."""

    FRAMEWORK: str = "custom"  # recorded in model.json; `serve` refuses a model of another framework
    # "number": features are numbers (float64). "text": every cell is kept as text (str), for
    # text or categorical models; training files then need a header line naming the columns.
    FEATURE_TYPE: str = "number"
    ITERATION_METRICS: tuple[str, ...] = ()  # per-iteration validation metric names, for MetricDefinitions
    INPUT_TYPES: tuple[str, ...] = ()  # request Content-Types that input_fn decodes (before the built-in ones)
    OUTPUT_TYPES: tuple[str, ...] = ()  # Accept types that output_fn encodes (before the built-in ones)
    # Schema names model.py uses itself rather than passing them to the model as they are (a round
    # count, an objective it resolves from auto, a column name, a value it transforms): `train` does
    # not look for them in the fitted model (fitted_params), only checks that model.py read them.
    OWN_HYPERPARAMETERS: tuple[str, ...] = ()
    # Schema name -> the name the fitted model reports it under, where they differ (e.g.
    # {"num_round": "n_estimators"} for an estimator that calls its rounds n_estimators).
    RENAMED_HYPERPARAMETERS: dict[str, str] = {}
    # A table: header name -> kind, one of COLUMN_KINDS; columns not listed are numbers. Non-empty:
    # fit and predict get a pandas DataFrame by name (numbers float64, categories the `category`
    # dtype with the training data's sorted values, text str) and requirements.txt needs pandas.
    # Empty (the default): a numpy matrix, as FEATURE_TYPE says. See contract/tables.py.
    COLUMNS: dict[str, str] = {}
    # The label column: a position (0 the first, -1 the last) or a header name (files need a header).
    LABEL: int | str = 0

    def fit(self, params: dict[str, Any], train: Data, validation: Data | None, job: Job) -> Any:
        """Required. Train and return a model. `params` are the schema's typed hyperparameters
        (hyperparameters.json), every one of them: pass each to your library. Raise ValueError with
        a sentence for a bad combination: it becomes the job's FailureReason. `train` then checks
        that each reached the fitted model (see fitted_params and OWN_HYPERPARAMETERS)."""

    def save(self, model: Any, directory: Path) -> None:
        """Required. Write the model's files into `directory` (any names but model.json). Use a
        format that does not run code when loaded (no pickle)."""

    def load(self, directory: Path, threads: int) -> Any:
        """Required. Read back what `save` wrote; `threads` is the worker's share of the cores."""

    def predict(self, model: Any, X: np.ndarray) -> np.ndarray:
        """Required. One output per row of X (as `fit` saw it, or as input_fn decoded it): class
        codes 0..k-1, or float values for regression."""

    @optional()
    def predict_proba(self, model: Any, X: np.ndarray) -> np.ndarray:
        """Optional (classification). An (n_rows, n_classes) array of probabilities; without it a
        request for probabilities gets 400."""

    @optional()
    def task_of(self, params: dict[str, Any]) -> str | None:
        """Optional. "classification" or "regression" when the hyperparameters decide it; None (the
        default) lets the contract infer it from the labels."""

    @optional()
    def fitted_params(self, model: Any) -> dict[str, Any]:
        """Optional. The parameters the fitted model holds, by the library's names (a booster's saved
        configuration). `train` fails naming any schema hyperparameter, not in OWN_HYPERPARAMETERS,
        that the model does not hold with the value given. Without this function the model's own
        get_params() is asked (most libraries' estimators have it);
        with neither, `train` only warns of a name that task_of and fit did not read."""

    @optional()
    def versions(self) -> dict[str, str]:
        """Optional. Library versions to record in model.json (default: none)."""

    @optional()
    def offers(self, model: Any) -> dict[str, Any]:
        """Optional. What this fitted model offers beyond predict: {"probabilities": bool} (default:
        True when predict_proba is defined), and "why" not. A request for absent ones gets 400 with it."""

    @optional(types="INPUT_TYPES")
    def input_fn(self, body: bytes, content_type: str, context: Context) -> Any:
        """Optional, with INPUT_TYPES. Decode a request whose Content-Type is in INPUT_TYPES into
        what predict takes, one item per row (e.g. raw text lines). Raise ValueError (400) or
        RequestError (its 4xx) with a sentence for a bad body. The contract keeps the size limits."""

    @optional(types="OUTPUT_TYPES")
    def output_fn(self, predictions: np.ndarray, accept: str, context: Context) -> bytes:
        """Optional, with OUTPUT_TYPES. Encode the answers (your labels or values: one per row, or a
        row of k each) for an Accept type in OUTPUT_TYPES; context.probabilities() gives the rows'
        probabilities whether or not the client asked (context.asked_probabilities)."""

    @optional()
    def transform(self, body: bytes, content_type: str, accept: str, context: Context) -> bytes:
        """Optional, instead of input_fn and output_fn: the whole request, body to answer, with
        context.predict and context.probabilities. INPUT_TYPES and OUTPUT_TYPES then list the only
        types served. The contract keeps size limits, the empty-body 400, statuses and logging."""

    @optional()
    def join(self, cluster: Any) -> AbstractContextManager[Group]:
        """Optional, for a framework of your own that trains one model across the job's hosts (see
        contract/cluster.py): the context in which this host trains with the others, yielding their
        Group. Without a join, algo-1 trains and the other hosts wait."""


FEATURE_TYPES = ("number", "text")
COLUMN_KINDS = ("number", "category", "text")
# Derived from ModelCode, the one declaration: its functions (required, or marked @optional), the
# constant each hook goes with, and its constants' defaults.
_FUNCTIONS = {n: f for n, f in vars(ModelCode).items() if inspect.isfunction(f) and not n.startswith("_")}
REQUIRED = tuple(n for n, f in _FUNCTIONS.items() if not getattr(f, "optional", False))
OPTIONAL = tuple(n for n, f in _FUNCTIONS.items() if getattr(f, "optional", False))
HOOKS = {f.types: n for n, f in _FUNCTIONS.items() if getattr(f, "types", None)}
CONSTANTS: dict[str, Any] = {name: getattr(ModelCode, name) for name in ModelCode.__annotations__}
SIMILAR = 0.8  # difflib's ratio from which a name of model.py reads as a misspelled interface name
# The hooks' signatures before Context: named, so an old model.py is told what changed.
OLD_SIGNATURES = {"input_fn": ["body", "content_type"], "output_fn": ["predictions", "probabilities", "accept"]}


class InterfaceError(TypeError):
    """model.py does not provide what the contract calls; the message names the function."""


def _parameters(name: str) -> list[str]:
    return [p for p in inspect.signature(getattr(ModelCode, name)).parameters if p != "self"]


def _defined(module: ModuleType) -> Iterator[str]:
    return (name for name, value in vars(module).items() if callable(value) and not name.startswith("_"))


def _misspelled(module: ModuleType) -> tuple[str, str] | None:
    """A name model.py defines that is not the interface's but reads as a misspelling of one (a
    constant's of a constant, a function's of a function): (its name, the interface's name). A
    helper of your own with another name passes; so do imported modules, classes and functions."""
    for name, value in vars(module).items():
        if name.startswith("_") or name in CONSTANTS or name in _FUNCTIONS or inspect.ismodule(value):
            continue
        if inspect.isclass(value) or (callable(value) and getattr(value, "__module__", None) != module.__name__):
            continue
        names = list(CONSTANTS) if name.isupper() else list(_FUNCTIONS)
        near = [n for n in difflib.get_close_matches(name, names, n=3, cutoff=SIMILAR) if abs(len(n) - len(name)) <= 2]
        if near:
            return name, near[0]
    return None


def _kind(annotation: Any) -> Any:
    """What isinstance takes for a constant's annotation: tuple for tuple[str, ...], int | str as it is."""
    return annotation if isinstance(annotation, UnionType) else get_origin(annotation) or annotation


def _signature(function) -> inspect.Signature:
    try:
        return inspect.signature(function)
    except ValueError:  # a builtin without a signature
        return inspect.Signature()


def check(module: ModuleType) -> ModelCode:
    """The module itself if it provides ModelCode; else InterfaceError with one sentence."""
    where = getattr(module, "__file__", MODULE)
    for name in REQUIRED + OPTIONAL:
        function = getattr(module, name, None)
        wanted = f"{name}({', '.join(_parameters(name))})"
        if function is None:
            if name in OPTIONAL:
                continue
            near = difflib.get_close_matches(name, list(_defined(module)), n=1, cutoff=0.6)
            hint = f"; it defines {near[0]}: rename it" if near else ""
            raise InterfaceError(f"{where} defines no function {wanted}, which the contract calls{hint}")
        if not callable(function):
            raise InterfaceError(f"{where}: {name} must be a function {wanted}, not {type(function).__name__}")
        if name in OLD_SIGNATURES and list(_signature(function).parameters) == OLD_SIGNATURES[name]:
            raise InterfaceError(
                f"{where}: {name}{_signature(function)} is the old signature; the contract now calls "
                f"{wanted}, whose context (contract.interface.Context) holds the classes and probabilities"
            )
        try:
            inspect.signature(function).bind(*_parameters(name))
        except TypeError:
            raise InterfaceError(f"{where}: {name}{inspect.signature(function)} cannot be called as {wanted}") from None
        except ValueError:  # a builtin without a signature: trust it
            pass
    misspelled = _misspelled(module)
    if misspelled:
        raise InterfaceError(
            f"{where} defines `{misspelled[0]}`: did you mean `{misspelled[1]}`? (a name of your own: start it with _)"
        )
    for name, default in CONSTANTS.items():
        value, kind = getattr(module, name, default), _kind(ModelCode.__annotations__[name])
        if name == "LABEL":
            if isinstance(value, bool) or not isinstance(value, kind) or value == "":
                raise InterfaceError(f"{where}: LABEL must be a column position (int) or a header name (str)")
        elif not isinstance(value, kind):
            raise InterfaceError(f"{where}: {name} must be a {kind.__name__}, not {type(value).__name__}")
    if constant(module, "FEATURE_TYPE") not in FEATURE_TYPES:
        raise InterfaceError(
            f"{where}: FEATURE_TYPE is {constant(module, 'FEATURE_TYPE')!r}; use one of {', '.join(FEATURE_TYPES)}"
        )
    _check_columns(where, constant(module, "COLUMNS"), constant(module, "FEATURE_TYPE"))
    transform = hasattr(module, "transform")
    for name, hook in HOOKS.items():
        types = constant(module, name)
        if transform and hasattr(module, hook):
            raise InterfaceError(f"{where}: transform handles the whole request; define it or {hook}, not both")
        if transform and not types:
            raise InterfaceError(f"{where}: transform needs {name}, the types it serves")
        if not transform and bool(types) != hasattr(module, hook):
            raise InterfaceError(f"{where}: {name} and {hook} go together; define both or neither")
        bad = [t for t in types if not isinstance(t, str) or t != t.strip().lower() or t.count("/") != 1]
        if bad:
            raise InterfaceError(f"{where}: {name} holds {bad[0]!r}; give media types such as 'text/plain'")
    return cast(ModelCode, module)


def _check_columns(where: str, columns: dict, feature_type: str) -> None:
    for name, kind in columns.items():
        if not isinstance(name, str) or not name.strip() or kind not in COLUMN_KINDS:
            kinds = ", ".join(COLUMN_KINDS)
            raise InterfaceError(
                f"{where}: COLUMNS maps header names to one of {kinds}; {name!r}: {kind!r} is not that"
            )
    if columns and feature_type != "number":
        raise InterfaceError(f"{where}: COLUMNS gives each column its kind; leave FEATURE_TYPE at its default")
    if columns and importlib.util.find_spec("pandas") is None:
        raise InterfaceError(
            f"{where}: COLUMNS makes a table, which needs pandas: add pandas to requirements.txt and run make lock"
        )


def load_model_code(name: str = MODULE) -> ModelCode:
    """Import model.py once (at `train`'s or a worker's start) and check it, and hyperparameters.json beside it."""
    try:
        hyperparameters.load_schema()
    except hyperparameters.SchemaError as exc:
        raise InterfaceError(str(exc)) from None
    return check(importlib.import_module(name))


def constant(code: ModelCode | ModuleType, name: str) -> Any:
    return getattr(code, name, CONSTANTS[name])
