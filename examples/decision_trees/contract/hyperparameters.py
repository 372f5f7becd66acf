"""Hyperparameters: SageMaker hands every value over as a string; one schema types them.

The schema (hyperparameters.json beside model.py, yours to edit) declares each name with its type,
default, allowed range and meaning. The same file renders the table in the README, so
the documentation cannot drift from what `train` accepts.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any

TYPES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
NULLS = {"none", "null", ""}


class HyperparameterError(ValueError):
    """A value SageMaker passed that the schema does not allow; the message names the key."""


class SchemaError(HyperparameterError):
    """hyperparameters.json itself is malformed; the message names the entry and what is wrong."""


# The format of hyperparameters.json, as a JSON Schema: name -> entry. check_schema reads the keywords
# used here (type, enum, required, properties, additionalProperties, minItems, minLength, minProperties)
# and adds what JSON Schema cannot say: min <= max, and a default and choices of the entry's own type
# and range.
ENTRY = {
    "type": "object",
    "required": ["type", "default", "help"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": list(TYPES)},
        "default": {},  # of the entry's type, or null when nullable
        "help": {"type": "string", "minLength": 1},  # the README table's "meaning"
        "choices": {"type": "array", "minItems": 1},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "nullable": {"type": "boolean"},  # none (null) is a value too
        "tune": {"type": "string"},  # the range `--tune` searches: LOW:HIGH[:SCALING] or a,b,c
    },
}
SCHEMA_FORMAT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "minProperties": 1,
    "additionalProperties": ENTRY,
}
JSON_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float), "boolean": bool}


def load_schema(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """hyperparameters.json (yours, beside model.py, unless path says another), checked against
    SCHEMA_FORMAT (SchemaError naming the entry)."""
    if path is None:  # imported here: the template's README renderer loads this file alone, by path
        from contract.paths import PROGRAM

        path = PROGRAM / "hyperparameters.json"
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
    except ValueError as exc:
        raise SchemaError(f"{path.name} is not valid JSON ({exc})") from None
    check_schema(schema, path.name)
    return schema


def check_schema(schema: Any, where: str = "hyperparameters.json") -> None:
    """SchemaError with one sentence for the first entry that does not follow SCHEMA_FORMAT."""
    if not isinstance(schema, dict) or len(schema) < SCHEMA_FORMAT["minProperties"]:
        raise SchemaError(f"{where} must map each hyperparameter's name to its entry, and name at least one")
    fields = ENTRY["properties"]
    for name, spec in schema.items():
        if not isinstance(spec, dict):
            raise SchemaError(f"{where}: {name} must be an object holding its type, default and help")
        for field in spec:
            if field not in fields:
                near = difflib.get_close_matches(field, list(fields), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise SchemaError(
                    f"{where}: {name} has an unknown field {field!r}{hint}; an entry holds {', '.join(fields)}"
                )
        for field in ENTRY["required"]:
            if field not in spec:
                raise SchemaError(f"{where}: {name} has no {field!r}")
        for field, rule in fields.items():
            if field not in spec:
                continue
            value = spec[field]
            if "enum" in rule and value not in rule["enum"]:
                raise SchemaError(f"{where}: {name} has {field} {value!r}, not one of {', '.join(rule['enum'])}")
            wanted = JSON_TYPES.get(rule.get("type"), object)
            if not isinstance(value, wanted) or (isinstance(value, bool) and rule.get("type") == "number"):
                raise SchemaError(f"{where}: {name}'s {field} must be a JSON {rule['type']}, not {value!r}")
            least = rule.get("minLength", rule.get("minItems"))
            if least and len(value.strip() if isinstance(value, str) else value) < least:
                raise SchemaError(f"{where}: {name}'s {field} is empty")
        _check_entry(where, name, spec)


def _check_entry(where: str, name: str, spec: dict[str, Any]) -> None:
    """What JSON Schema cannot say: the range is a range, the default and choices fit the entry."""
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None and low > high:
        raise SchemaError(f"{where}: {name} has min {low} above max {high}")
    if spec["type"] not in ("int", "float") and (low is not None or high is not None):
        raise SchemaError(f"{where}: {name} is {spec['type']}: min and max are for int and float entries")
    for choice in spec.get("choices") or []:
        if _value_error(choice, {"type": spec["type"]}):
            raise SchemaError(f"{where}: {name} has the choice {choice!r}, which is not {TYPES[spec['type']]}")
    if spec["default"] is None and spec.get("nullable"):
        return
    problem = _value_error(spec["default"], spec)
    if problem:
        raise SchemaError(f"{where}: {name} has the default {spec['default']!r}, which is not allowed: {problem}")


def _value_error(value: Any, spec: dict[str, Any]) -> str | None:
    """Why value, as written in JSON, is not a value of spec (None: it is)."""
    kind = spec["type"]
    exact = {"int": int, "float": (int, float), "bool": bool, "str": str}[kind]
    if not isinstance(value, exact) or (isinstance(value, bool) and kind != "bool"):
        return f"expected {TYPES[kind]}" + (' (or null, with "nullable": true)' if value is None else "")
    try:
        _check_range(value, spec)
    except ValueError as exc:
        return str(exc)
    return None


def is_sagemaker_owned(name: str) -> bool:
    # SageMaker and its SDKs add these themselves (automatic model tuning adds
    # _tuning_objective_metric; framework estimators add sagemaker_*).
    return name.startswith("_") or name.startswith("sagemaker_")


def parse(raw: dict[str, Any], schema: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Typed values for every schema name: the given ones checked, the rest defaulted."""
    errors = []
    unknown = sorted(k for k in raw if k not in schema and not is_sagemaker_owned(k))
    if unknown:
        errors.append(
            f"unknown hyperparameter(s) {', '.join(unknown)}; this algorithm accepts: " + ", ".join(sorted(schema))
        )
    values = {}
    for name, spec in schema.items():
        if name not in raw:
            values[name] = spec["default"]
            continue
        try:
            values[name] = convert(raw[name], spec)
        except ValueError as exc:
            errors.append(f"hyperparameter {name}={raw[name]!r}: {exc}")
    if errors:
        raise HyperparameterError("; ".join(errors))
    return values


def convert(value: Any, spec: dict[str, Any]) -> Any:
    """One value, as SageMaker sends it (a string), to the schema's type, within its range.

    The same value arrives written three ways, and each gives the same result: plain (boto3,
    SDK v2's Estimator: str(v), so True is "True" and None is "None"), JSON for non-strings
    (SDK v3's ModelTrainer: "true", "null", "0.1") or JSON for every value (v2's framework
    estimators: '"gini"', '"5"')."""
    if isinstance(value, str):
        text = unquote(value.strip()).strip()
        if spec.get("nullable") and text.lower() in NULLS:
            return None
        value = _from_text(text, spec["type"])
    elif value is None and spec.get("nullable"):
        return None
    else:
        value = _from_text(str(value).lower() if isinstance(value, bool) else str(value), spec["type"])
    _check_range(value, spec)
    return value


def unquote(text: str) -> str:
    """The text inside a JSON string literal ('"gini"' gives gini), or the text as it is.

    Only a whole, valid literal is decoded, and only once: a plain value that merely looks
    like JSON (true, 5, null, [1], "a" or "b") stays what it is, so a str hyperparameter can
    hold it. The one plain value this reads differently is a quoted literal; to pass one
    (quotes included), send it JSON-encoded, as the SDKs' encoders do."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        if isinstance(decoded, str):
            return decoded
    return text


def _from_text(text: str, kind: str) -> Any:
    if kind == "str":
        return text
    if kind == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError("expected true or false")
    if kind == "int":
        try:
            return int(text)  # exact: a float would round integers past 2**53
        except ValueError:
            pass  # "5.0", "1e3": integers written as numbers
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected {TYPES[kind]}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected {TYPES[kind]}, not {text}")
    if kind == "int":
        if number != int(number):
            raise ValueError("expected an integer")
        return int(number)
    return number


def _check_range(value: Any, spec: dict[str, Any]) -> None:
    choices = spec.get("choices")
    if choices is not None and value not in choices:
        raise ValueError("expected one of " + ", ".join(map(str, choices)))
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"expected a value from {describe_range(spec)}")


def describe_range(spec: dict[str, Any]) -> str:
    """The allowed values in words, for error messages and the README table."""
    if spec.get("choices") is not None:
        allowed = ", ".join(map(str, spec["choices"]))
    elif spec["type"] == "bool":
        allowed = "true, false"
    else:
        low, high = spec.get("min"), spec.get("max")
        low_text = "-inf" if low is None else str(low)
        high_text = "inf" if high is None else str(high)
        allowed = f"{low_text} to {high_text}"
    return allowed + (", or none" if spec.get("nullable") else "")


class Tracked(dict):
    """The typed hyperparameters as model.py receives them, remembering which ones it read.

    A name added to the schema but never passed on to the model is typed, logged and saved,
    yet changes nothing: `train` names such hyperparameters after fitting. Reading by `items()`
    (passing every name on) counts as reading each one: whether a name then reached the fitted
    model is what check_reached asks the model itself."""

    def __init__(self, values: dict[str, Any]):
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def _all(self):
        self.read.update(super().keys())

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()

    def keys(self):
        self._all()
        return super().keys()

    def __iter__(self):
        self._all()
        return super().__iter__()

    def copy(self) -> dict[str, Any]:
        self._all()
        return dict(super().items())

    def unread(self) -> list[str]:
        return sorted(set(super().keys()) - self.read)


# How libraries say that they did not use a parameter they were given: a warning
# 'Parameters: { "max_dept" } are not used.' or 'Unknown parameter: max_dept' (when the library's
# verbosity lets warnings through), or a TypeError from an estimator given a keyword it does not
# take.
UNUSED = (
    re.compile(r"Parameters: \{(?P<names>[^}]*)\} (?:are|is) not used"),
    re.compile(r"Unknown parameter: (?P<names>\S+)"),
    re.compile(r"unexpected keyword argument '(?P<names>[^']+)'"),
)


def unused_by_library(messages: list[str], params: dict[str, Any], library: str, known=(), others=True) -> None:
    """HyperparameterError naming each parameter the library said (in messages) it did not use;
    known: the names the model does have, for a hint at a misspelling; others: whether names that
    are not hyperparameters (model.py's own settings) count too."""
    problems = []
    for message in messages:
        for pattern in UNUSED:
            for match in pattern.finditer(message):
                for name in (n.strip(' "') for n in match["names"].split(",")):
                    if not name or not (others or name in params):
                        continue
                    near = difflib.get_close_matches(name, sorted(known), n=1)
                    hint = f"; did you mean {near[0]}?" if near else ""
                    what = "hyperparameter" if name in params else "parameter (set in model.py)"
                    problems.append(f"{what} {name} ({library} said: {match[0]}{hint})")
    if problems:
        raise HyperparameterError(
            f"{library} did not use {'; '.join(dict.fromkeys(problems))}: correct the name in hyperparameters.json "
            "(or in model.py's fit), or remove it"
        )


def check_reached(
    params: dict[str, Any],
    fitted: dict[str, Any],
    own: tuple[str, ...] = (),
    renamed: dict[str, str] | None = None,
    model: str = "the fitted model",
) -> None:
    """HyperparameterError naming each schema name the fitted model does not hold with its value.

    fitted: the parameters the fitted model reports (get_params(), a booster's saved
    configuration); a pipeline's "step__name" counts as name. Names in own are
    model.py's own business and not looked for; renamed maps a name to the model's name for it.
    A none value stands for the library's default, so any value the model holds matches it."""
    renamed = renamed or {}
    problems = []
    for name, value in params.items():
        if name in own:
            continue
        key = renamed.get(name, name)
        keys = [k for k in fitted if k == key or k.endswith("__" + key)]
        if not keys:
            near = difflib.get_close_matches(key, sorted({k.rsplit("__", 1)[-1] for k in fitted}), n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            problems.append(f"{name}={_text(value)} (the model has no {key}{hint})")
        elif not any(_same(value, fitted[k]) for k in keys):
            problems.append(f"{name}={_text(value)} (the model holds {keys[0]}={_text(fitted[keys[0]])})")
    if problems:
        raise HyperparameterError(
            f"hyperparameter {', '.join(problems)} never reached {model}: pass it on in model.py's fit or correct "
            "its name in hyperparameters.json; if model.py uses it itself, add it to OWN_HYPERPARAMETERS in "
            "model.py (if the model knows it by another name, map it in RENAMED_HYPERPARAMETERS)"
        )


def _text(value: Any) -> str:
    return "none" if value is None else json.dumps(value).strip('"') if isinstance(value, bool) else str(value)


def _same(given: Any, held: Any) -> bool:
    """Whether the model holds the given value; libraries report numbers as text or in
    single precision (0.1 as 0.100000001)."""
    if given is None:
        return True
    if isinstance(given, bool):
        return str(held).lower() in (TRUE if given else FALSE)
    if isinstance(given, (int, float)):
        try:
            number = float(held)
        except (TypeError, ValueError):
            return False
        return math.isclose(number, given, rel_tol=1e-6, abs_tol=1e-12)
    return str(held) == str(given) if isinstance(held, str) else held == given


# docs/hyperparameters.md's table sits between these lines; `make docs` rewrites it
# from the schema (and a test keeps the two in sync), so it never goes stale.
README_START = "<!-- hyperparameters: written by `make docs` from hyperparameters.json -->"
README_END = "<!-- end of hyperparameters -->"


def readme_table(schema: dict[str, dict[str, Any]]) -> str:
    """The schema as a Markdown table: name, type, default, allowed values, the range `--tune` searches, meaning."""
    rows = ["| name | type | default | allowed | tuned over | meaning |", "|---|---|---|---|---|---|"]
    for name, spec in schema.items():
        default = "none" if spec["default"] is None else json.dumps(spec["default"]).strip('"')
        tune = f"`{spec['tune']}`" if "tune" in spec else ""
        rows.append(f"| `{name}` | {spec['type']} | `{default}` | {describe_range(spec)} | {tune} | {spec['help']} |")
    return "\n".join(rows)


def with_readme_table(readme: str, schema: dict[str, dict[str, Any]]) -> str:
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return readme[:start] + "\n" + readme_table(schema) + "\n" + readme[end:]


if __name__ == "__main__":  # python -m contract.hyperparameters docs/hyperparameters.md (make docs does it)
    import sys

    readme_path = Path(sys.argv[1])
    readme_path.write_text(with_readme_table(readme_path.read_text(encoding="utf-8"), load_schema()), encoding="utf-8")
