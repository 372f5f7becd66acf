"""Request and response bodies: text/csv, application/json, application/jsonlines, application/x-npy.

Requests decode to one float64 matrix, a row per record (no pandas round trip): CSV of
plain decimals by a vectorised reader (decimal_csv.py), any other CSV by numpy's C reader.
JSON rows are lists of numbers, or objects keyed by the feature names of the training
data's header. A model of text features (FEATURE_TYPE = "text") gets the cells as str
instead (dtype object): CSV as Python's csv module reads it, JSON strings, .npy of unicode.
Responses hold one prediction (a value, or a row of k) per input row, in input order.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import csv
import io
import json
import re

import numpy as np

from contract import decimal_csv

CSV, JSON, NPY = "text/csv", "application/json", "application/x-npy"
JSONLINES = "application/jsonlines"  # one JSON row per line: batch transform's SplitType=Line
# Models compute in float32: from this magnitude on, a value rounds to infinity there.
FLOAT32_LIMIT = 2.0**128 * (1 - 2.0**-25)
# An empty CSV cell is a missing value (pandas writes NaN that way): it reads as nan.
# (Blank lines are not rows: numpy skips them.)
QUOTED_CHARACTERS = np.array([ord(c) for c in ',"\r\n'], dtype=np.uint32)
EMPTY_CELL = re.compile(r"(?<=,)(?=,|\r?$)|^(?=,)", re.MULTILINE)
CONTENT_TYPES = (CSV, JSON, JSONLINES, NPY)
# Charsets in which plain decimals are the same bytes as in ASCII.
ASCII_SUPERSETS = ("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1")
ACCEPT_TYPES = (CSV, JSON, JSONLINES, NPY)


class PayloadError(ValueError):
    """The body cannot be read as the Content-Type says: answered with 400 and this message."""


def check_not_empty(body: bytes) -> None:
    if not body.strip():
        raise PayloadError("the request body is empty; send at least one row of features")


def decode(
    body: bytes,
    content_type: str,
    charset: str | None = None,
    names: tuple[str, ...] | None = None,
    feature_type: str = "number",
) -> np.ndarray:
    """The request body as a 2-D float64 matrix (str cells for text); content_type is one of CONTENT_TYPES.

    names: the model's feature names (from the training header), for JSON objects. A table model
    (model.json's columns) reads its bodies with contract/tables.py instead, by these readers."""
    check_not_empty(body)
    if feature_type == "text":
        return _text_rows(body, content_type, charset, names)
    if content_type == NPY:
        rows = read_npy(body)
    elif (
        content_type == CSV
        and (charset or "utf-8").lower() in ASCII_SUPERSETS
        and (fast := decimal_csv.parse(body)) is not None
    ):
        rows = fast  # plain decimals (what batch transform mostly sends), read vectorised
    else:
        text = body_text(body, charset)
        if content_type == CSV:
            rows = _csv(text)
        elif content_type == JSON:
            rows = read_json(text, names)
        else:
            rows = read_jsonlines(text, names)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
        raise PayloadError("the body holds no rows of features")
    too_big = np.abs(rows) >= FLOAT32_LIMIT  # NaN compares False: it stays, meaning "missing"
    if too_big.any():
        row, column = (int(i) + 1 for i in np.argwhere(too_big)[0])
        raise PayloadError(
            f"row {row}, column {column}: {rows[row - 1, column - 1]} is infinite or beyond float32 range; "
            "features must be finite (NaN or nan marks a missing value)"
        )
    return rows


def body_text(body: bytes, charset: str | None) -> str:
    """The body as text in its charset (UTF-8 unless the Content-Type says); 400 if it is not."""
    try:
        return body.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise PayloadError(f"the body is not valid {charset or 'utf-8'} text: {exc}") from None


def fill_empty_cells(text: str) -> str:
    """CSV text with every empty cell written as nan."""
    if ",," not in text and ",\n" not in text and ",\r" not in text and "\n," not in text:
        if not (text.startswith(",") or text.rstrip("\r\n").endswith(",")):
            return text  # the common case costs four substring scans
    return EMPTY_CELL.sub("nan", text)


def _csv(text: str) -> np.ndarray:
    try:
        text = fill_empty_cells(text)
        return np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64, comments=None)
    except ValueError as exc:
        raise PayloadError(f"malformed CSV: {exc}".rstrip(".") + " (rows are numbers, no header)") from None


def _text_rows(body: bytes, content_type: str, charset: str | None, names: tuple[str, ...] | None) -> np.ndarray:
    """Text features: every cell a str, in a 2-D object array."""
    if content_type == NPY:
        array = read_npy(body, kinds="U", what="text")
        return array.astype(object)
    text = body_text(body, charset)
    if content_type == CSV:
        try:
            rows = [row for row in csv.reader(io.StringIO(text), strict=True) if row]
        except csv.Error as exc:
            raise PayloadError(f"malformed CSV: {exc} (quote a text that holds commas or quotes)") from None
    elif content_type == JSON:
        return read_json(text, names, "text")
    else:
        return read_jsonlines(text, names, "text")
    if not rows:
        raise PayloadError("the body holds no rows of features")
    return _rows(rows, "text")


def read_json(text: str, names: tuple[str, ...] | None, feature_type: str = "number") -> np.ndarray:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"malformed JSON: {exc}") from None
    if isinstance(value, dict):
        if "instances" in value:
            value = value["instances"]
        elif names is not None and not any(isinstance(v, list | dict) for v in value.values()):
            value = [value]  # one row as an object of named features
        else:
            raise PayloadError(
                'a JSON object needs an "instances" key holding a list of rows'
                + (", or is one row of named features" if names else "")
            )
    if not isinstance(value, list) or not value:
        raise PayloadError('JSON must be a list of rows, one row, or {"instances": [rows]}')
    if not isinstance(value[0], list | dict):
        value = [value]  # a single row
    return _rows([_row(row, names, f"row {i + 1}", feature_type) for i, row in enumerate(value)], feature_type)


def read_jsonlines(text: str, names: tuple[str, ...] | None, feature_type: str = "number") -> np.ndarray:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise PayloadError(f"line {number} is not JSON: {exc}") from None
        rows.append(_row(row, names, f"line {number}", feature_type))
    if not rows:
        raise PayloadError("the body holds no rows of features")
    return _rows(rows, feature_type)


def _row(row, names: tuple[str, ...] | None, where: str, feature_type: str = "number") -> list:
    """One JSON row as a list of numbers (None is a missing value) or of strings (text features):
    a list, or an object of named features."""
    kind = {"text": "strings", "table": "values"}.get(feature_type, "numbers")
    if isinstance(row, dict):
        if names is None:
            raise PayloadError(
                f"{where} is a JSON object, but this model was trained on CSV without a header, so its features "
                f"have no names; send each row as a list of {kind}"
            )
        missing = [n for n in names if n not in row]
        unknown = sorted(set(row) - set(names))
        if missing or unknown:
            problems = ([f"missing feature(s) {', '.join(missing)}"] if missing else []) + (
                [f"unknown feature(s) {', '.join(unknown)}"] if unknown else []
            )
            raise PayloadError(f"{where}: {'; '.join(problems)}; the model's features are {', '.join(names)}")
        row = [row[n] for n in names]
    if feature_type == "table" and isinstance(row, list):
        return row  # cells of any kind: contract/tables.py converts them by column
    if not isinstance(row, list):
        raise PayloadError(f"{where}: every JSON row must be a list of {kind} or an object of named features")
    if feature_type == "text":
        if not all(isinstance(cell, str) for cell in row):
            raise PayloadError(f"{where}: every JSON feature of this text model must be a string")
        return row
    if any(cell is not None and (not isinstance(cell, int | float) or isinstance(cell, bool)) for cell in row):
        raise PayloadError(f"{where}: every JSON feature must be a number (or null for a missing value)")
    return row


def _rows(rows: list[list], feature_type: str = "number") -> np.ndarray:
    if len({len(row) for row in rows}) > 1:
        raise PayloadError("the rows have different lengths")
    if feature_type == "table":
        return rows
    if feature_type == "text":
        cells = np.empty((len(rows), len(rows[0])), dtype=object)
        cells[:] = rows
        return cells
    return np.asarray(rows, dtype=np.float64)  # None becomes nan


def read_npy(body: bytes, kinds: str = "biuf", what: str = "numbers") -> np.ndarray:
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, EOFError, OSError... for bad files
        raise PayloadError(f"not a valid .npy file: {exc}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds:
        raise PayloadError(f"the .npy array must hold {what}, not {getattr(array, 'dtype', type(array))}")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise PayloadError(f"the .npy array must have 1 or 2 dimensions, not {array.ndim}")
    return array if what == "text" else array.astype(np.float64, copy=False)


def encode(
    accept: str,
    predictions: np.ndarray,
    probabilities: np.ndarray | None = None,
    classes: np.ndarray | None = None,
) -> bytes:
    """One output per row: the label or value (or a row of k: predictions of shape (n_rows, k)),
    then the class probabilities when asked for."""
    if accept == CSV:
        if probabilities is None and predictions.dtype.kind == "U" and predictions.ndim == 1 and len(predictions) > 64:
            lines = _ascii_lines(predictions)  # big batches of labels: vectorised
            if lines is not None:
                return lines
        if predictions.ndim == 1 and probabilities is None:
            cells = _text(predictions)
        else:
            columns = [_text(column) for column in (predictions[:, None] if predictions.ndim == 1 else predictions).T]
            if probabilities is not None:
                columns += [_text(probabilities[:, j]) for j in range(probabilities.shape[1])]
            cells = [",".join(row) for row in zip(*columns, strict=True)]
        # No trailing newline: batch transform adds one after each response itself.
        return "\n".join(cells).encode()
    if accept == JSONLINES:  # one object per row; no trailing newline (see CSV)
        lines = [{"prediction": v} for v in predictions.tolist()]
        if probabilities is not None:
            for line, row in zip(lines, probabilities.tolist(), strict=True):
                line["probabilities"] = row
        return "\n".join(json.dumps(line, separators=(",", ":")) for line in lines).encode()
    if accept == JSON:
        out = {"predictions": predictions.tolist()}
        if probabilities is not None:
            out["probabilities"] = probabilities.tolist()
            out["classes"] = classes.tolist()
        return json.dumps(out, separators=(",", ":")).encode()
    buffer = io.BytesIO()
    array = predictions if probabilities is None else probabilities
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _text(values: np.ndarray) -> list[str]:
    if values.dtype.kind == "U":
        return [_csv_cell(v) for v in values.tolist()]
    if values.dtype == np.float32:  # a model that predicts in float32
        return values.astype(str).tolist()  # shortest text that reads back as the same float32
    return [repr(v) for v in values.tolist()]  # shortest text that reads back as the same float


def _ascii_lines(labels: np.ndarray) -> bytes | None:
    """Labels one a line, from their code points; None if one is not ASCII, holds a NUL or needs quoting."""
    codes = labels.view(np.uint32).reshape(len(labels), -1)  # fixed width, padded with 0
    if codes.max(initial=0) >= 128 or np.isin(codes, QUOTED_CHARACTERS).any():
        return None
    if ((codes[:, :-1] == 0) & (codes[:, 1:] != 0)).any():
        return None  # a NUL inside a label: not padding
    text = np.zeros((len(labels), codes.shape[1] + 1), dtype=np.uint8)
    text[:, :-1] = codes
    text[:, -1] = ord("\n")
    return text[text != 0].tobytes()[:-1]  # no trailing newline (see encode)


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
