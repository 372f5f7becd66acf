"""A scikit-learn model's file: skops by default, joblib when model.py opts in (MODEL_FORMAT).

skops writes the estimator's state as data. On load it refuses any type it does not trust;
for a type it trusts (scikit-learn's estimators, numpy's types, TRUSTED_TYPES) it makes the
object with `cls.__new__` and sets the saved attributes (`__setstate__` or `__dict__`), and
for a trusted function name it puts that function where the model will call it: no code
comes from the file itself. When skops cannot write or read the model, the SaveError says
which object, of which type, and the three ways forward, so `train` fails with that sentence
and the endpoint never sees the model.

joblib (pickle) saves any Python object, and loading the file runs whatever code it names:
whoever can write the model.tar.gz can run code in the endpoint (the README's "Model format").

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from pathlib import Path

from contract.model_artifact import SaveError

FILES = {"skops": "model.skops", "joblib": "model.joblib"}  # MODEL_FORMAT: the file it writes
TRUST = (
    "trust the type: add its name to TRUSTED_TYPES in model.py; skops then makes objects of it from the file's "
    "data without running code from the file, but with any attribute values the file holds, and a trusted "
    "function may be called by the model: trust only code you know that does nothing harmful with any data"
)
JOBLIB = 'set MODEL_FORMAT = "joblib" in model.py, for code you trust: loading it runs code, so pin MODEL_SHA256'


def file_name(model_format: str) -> str:
    if model_format not in FILES:
        raise SaveError(f"MODEL_FORMAT = {model_format!r} in model.py: use {' or '.join(map(repr, FILES))}")
    return FILES[model_format]


def save(estimator, directory: Path, model_format: str) -> None:
    path = directory / file_name(model_format)
    if model_format == "joblib":
        import joblib

        joblib.dump(estimator, path)
        return
    import skops.io

    try:
        skops.io.dump(estimator, path)
    except Exception as exc:
        path.unlink(missing_ok=True)
        where, culprit = unsavable(estimator)
        raise SaveError(
            f"skops cannot save {where} (a {type_name(culprit)}): {type(exc).__name__}: {str(exc)[:200]}. "
            f"Three ways forward: (a) if {type_name(culprit)} is your own class, give it __getstate__ and "
            "__setstate__ that keep plain data (numbers, strings, lists, dicts, numpy arrays), then "
            f"{TRUST}; (b) replace it with an object skops can save (scikit-learn's own transformers, numpy "
            f"arrays); (c) {JOBLIB}"
        ) from exc


def load(directory: Path, model_format: str, trusted: list[str]):
    path = directory / file_name(model_format)
    if model_format == "joblib":
        import joblib

        return joblib.load(path)
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.load(path, trusted=trusted)
    except UntrustedTypesFoundException as exc:
        untrusted = [name for name in skops.io.get_untrusted_types(file=path) if name not in trusted]
        # A lambda or a function defined inside another has no name to import it by: trusting it cannot work.
        nameless = " (a lambda or nested function cannot be loaded by name: define it at a module's top level)"
        raise SaveError(
            f"skops will not load {path.name}: the model holds types TRUSTED_TYPES does not name: "
            f"{', '.join(untrusted)}. Three ways forward: (a) {TRUST}"
            f"{nameless if any('<' in name for name in untrusted) else ''}; (b) replace the objects of these "
            f"types with ones skops trusts (scikit-learn's own transformers, numpy arrays); (c) {JOBLIB}"
        ) from exc


def type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def unsavable(estimator) -> tuple[str, object]:
    """(path, object): the innermost piece of the estimator skops cannot save, found by trying
    skops on its parts: an estimator's attributes, and the items of lists, tuples and dicts."""
    path, value = "", estimator
    while True:
        failing = next(((p, v) for p, v in _parts(path, value) if not _savable(v)), None)
        if failing is None:
            return path or "the estimator itself", value
        path, value = failing


def _parts(path: str, value):
    if isinstance(value, (list, tuple)):
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return [(f"{path}[{key!r}]", item) for key, item in value.items()]
    if callable(getattr(value, "get_params", None)) and hasattr(value, "__dict__"):  # an estimator
        return [(f"{path}.{name}" if path else name, item) for name, item in vars(value).items()]
    return []


def _savable(value) -> bool:
    import skops.io

    try:
        skops.io.dumps(value)
    except Exception:
        return False
    return True
