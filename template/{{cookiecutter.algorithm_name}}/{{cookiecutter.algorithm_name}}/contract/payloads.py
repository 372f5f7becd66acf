"""Request and response bodies: text/csv, application/json and application/x-npy.

Requests decode to one float64 matrix, a row per record (no pandas round trip): CSV of
plain decimals by a vectorised reader (decimal_csv.py), any other CSV by numpy's C reader.
Responses hold one prediction per input row, in input order.
"""

import io
import json
import re

import numpy as np

from contract import decimal_csv

CSV, JSON, NPY = "text/csv", "application/json", "application/x-npy"
# Models compute in float32: from this magnitude on, a value rounds to infinity there.
FLOAT32_LIMIT = 2.0**128 * (1 - 2.0**-25)
# An empty CSV cell is a missing value (pandas writes NaN that way): it reads as nan.
# (Blank lines are not rows: numpy skips them.)
QUOTED_CHARACTERS = np.array([ord(c) for c in ',"\r\n'], dtype=np.uint32)
EMPTY_CELL = re.compile(r"(?<=,)(?=,|\r?$)|^(?=,)", re.MULTILINE)
CONTENT_TYPES = (CSV, JSON, NPY)
# Charsets in which plain decimals are the same bytes as in ASCII.
ASCII_SUPERSETS = ("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1")
ACCEPT_TYPES = (CSV, JSON, NPY)


class PayloadError(ValueError):
    """The body cannot be read as the Content-Type says: answered with 400 and this message."""


def decode(body: bytes, content_type: str, charset: str | None = None) -> np.ndarray:
    """The request body as a 2-D float64 matrix; content_type is one of CONTENT_TYPES."""
    if not body.strip():
        raise PayloadError("the request body is empty; send at least one row of features")
    if content_type == NPY:
        rows = _npy(body)
    elif (
        content_type == CSV
        and (charset or "utf-8").lower() in ASCII_SUPERSETS
        and (fast := decimal_csv.parse(body)) is not None
    ):
        rows = fast  # plain decimals (what batch transform mostly sends), read vectorised
    else:
        try:
            text = body.decode(charset or "utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise PayloadError(f"the body is not valid {charset or 'utf-8'} text: {exc}") from None
        rows = _csv(text) if content_type == CSV else _json(text)
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


def _json(text: str) -> np.ndarray:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"malformed JSON: {exc}") from None
    if isinstance(value, dict):
        if "instances" not in value:
            raise PayloadError('a JSON object needs an "instances" key holding a list of rows')
        value = value["instances"]
    if not isinstance(value, list) or not value:
        raise PayloadError('JSON must be a list of rows, one row, or {"instances": [rows]}')
    if not isinstance(value[0], list):
        value = [value]  # a single row
    if any(not isinstance(row, list) for row in value):
        raise PayloadError("every JSON row must be a list of numbers")
    if any(not isinstance(cell, (int, float)) or isinstance(cell, bool) for row in value for cell in row):
        raise PayloadError("every JSON feature must be a number")
    if len({len(row) for row in value}) > 1:
        raise PayloadError("JSON rows have different lengths")
    return np.asarray(value, dtype=np.float64)


def _npy(body: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, EOFError, OSError... for bad files
        raise PayloadError(f"not a valid .npy file: {exc}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise PayloadError(f"the .npy array must hold numbers, not {getattr(array, 'dtype', type(array))}")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise PayloadError(f"the .npy array must have 1 or 2 dimensions, not {array.ndim}")
    return array.astype(np.float64, copy=False)


def encode(
    accept: str,
    predictions: np.ndarray,
    probabilities: np.ndarray | None = None,
    classes: np.ndarray | None = None,
) -> bytes:
    """One output per row: the label or value, then the class probabilities when asked for."""
    if accept == CSV:
        if probabilities is None and predictions.dtype.kind == "U" and len(predictions) > 64:
            lines = _ascii_lines(predictions)  # big batches of labels: vectorised
            if lines is not None:
                return lines
        cells = _text(predictions)
        if probabilities is not None:
            columns = [cells] + [_text(probabilities[:, j]) for j in range(probabilities.shape[1])]
            cells = [",".join(row) for row in zip(*columns, strict=True)]
        # No trailing newline: batch transform adds one after each response itself.
        return "\n".join(cells).encode()
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
    if values.dtype == np.float32:  # XGBoost and LightGBM predict in float32
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
