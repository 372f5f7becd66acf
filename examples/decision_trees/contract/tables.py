"""Tables: model.py's COLUMNS names each column's kind, and fit and predict get a pandas DataFrame.

Kinds: "number" (float64, NaN for a missing value), "category" (pandas' `category` dtype) and
"text" (str). A column the header has but COLUMNS does not list is a number. A category
column's values are fixed by the training data (sorted, kept in model.json), so training and
serving code a value the same way; a value the training data never had, like an empty cell,
is a missing value (NaN), as the boosting libraries expect. An empty text cell is "".

pandas is imported here only, and only once a table is built: a model without COLUMNS never
loads it (the numeric CSV path stays numpy only).

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import csv
import io
import json
import math

import numpy as np

from contract import payloads

KINDS = ("number", "category", "text")


class CellError(ValueError):
    """A cell that is not of its column's kind; row and column say where (row counts from 1)."""

    def __init__(self, row: int, column: str, message: str):
        super().__init__(f"row {row}, column {column!r}: {message}")
        self.row, self.column = row, column


def kinds(names: tuple[str, ...], declared: dict[str, str], label: str | None = None) -> tuple[str, ...]:
    """Each feature's kind, by the header's names; ValueError naming a declared column it lacks."""
    absent = [n for n in declared if n not in names and n != label]
    if absent:
        raise ValueError(
            f"COLUMNS in model.py names {', '.join(map(repr, absent))}, which the header does not have "
            f"(its columns: {', '.join(names)}); use the header's names"
        )
    return tuple(declared.get(n, "number") for n in names)


def number(cell) -> float:
    """A cell of a number column: a number, or missing (None, "", nan) as NaN; ValueError otherwise."""
    if cell is None:
        return math.nan
    if isinstance(cell, str):
        if not cell.strip():
            return math.nan
        value = float(cell)  # ValueError for a word
    elif isinstance(cell, int | float) and not isinstance(cell, bool):
        value = float(cell)
    else:
        raise ValueError(cell)
    if abs(value) >= payloads.FLOAT32_LIMIT:
        raise ValueError(cell)
    return value


def category(cell) -> str | None:
    """A cell of a category column as its text (None: missing). JSON numbers are written as CSV would."""
    if cell is None:
        return None
    if isinstance(cell, str):
        return cell.strip() or None
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return str(int(cell)) if float(cell).is_integer() else repr(float(cell))
    raise ValueError(cell)


def text(cell) -> str:
    if cell is None:
        return ""
    if not isinstance(cell, str):
        raise ValueError(cell)
    return cell


CONVERT = {"number": number, "category": category, "text": text}
WANTED = {"number": "a number", "category": "a category (text)", "text": "text"}


def cells(rows: list[list], names: tuple[str, ...], column_kinds: tuple[str, ...]) -> np.ndarray:
    """Rows of cells (CSV text or JSON values) as an object array of converted values; CellError at a bad one."""
    out = np.empty((len(rows), len(names)), dtype=object)
    for j, (name, kind) in enumerate(zip(names, column_kinds, strict=True)):
        convert = CONVERT[kind]
        column = out[:, j]
        for i, row in enumerate(rows):
            try:
                column[i] = convert(row[j])
            except (ValueError, TypeError):
                shown = json.dumps(row[j]) if not isinstance(row[j], str) else repr(row[j])
                raise CellError(i + 1, name, f"{shown} is not {WANTED[kind]}") from None
    return out


def schema(names: tuple[str, ...], column_kinds: tuple[str, ...], features: np.ndarray, union) -> list[dict]:
    """model.json's "columns": name, kind and, for categories, the training data's sorted values.

    union: the job's union of lists of str across hosts (a single host: the list itself)."""
    columns = []
    for j, (name, kind) in enumerate(zip(names, column_kinds, strict=True)):
        column = {"name": name, "kind": kind}
        if kind == "category":
            seen = sorted({v for v in features[:, j].tolist() if v is not None})
            column["categories"] = sorted(union(seen))
        columns.append(column)
    return columns


def frame(columns: list[dict], features: np.ndarray):
    """The DataFrame fit and predict get, from converted cells (see `cells`)."""
    import pandas as pd

    data = {}
    for j, column in enumerate(columns):
        values = features[:, j]
        if column["kind"] == "number":
            data[column["name"]] = values.astype(np.float64)
        elif column["kind"] == "category":  # a value outside the categories is missing (NaN)
            known = set(column["categories"])
            values = [v if v in known else None for v in values.tolist()]
            data[column["name"]] = pd.Categorical(values, categories=column["categories"])
        else:
            data[column["name"]] = values.astype(object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(features)))


def decode(body: bytes, content_type: str, charset: str | None, columns: list[dict]):
    """A request body as the model's table: 400 (PayloadError) naming the row and column of a bad cell."""
    payloads.check_not_empty(body)
    names = tuple(c["name"] for c in columns)
    column_kinds = tuple(c["kind"] for c in columns)
    if content_type == payloads.NPY:
        if set(column_kinds) != {"number"}:
            raise payloads.PayloadError(
                "this model's table has category or text columns, which .npy cannot carry by name; "
                "send text/csv, application/json or application/jsonlines"
            )
        array = payloads.read_npy(body)
        if array.shape[1] != len(names):
            raise payloads.PayloadError(f"each row needs {len(names)} features, this request has {array.shape[1]}")
        rows = array.tolist()
    else:
        text_body = payloads.body_text(body, charset)
        if content_type == payloads.CSV:
            rows = _csv_rows(text_body, names)
        else:
            read = payloads.read_json if content_type == payloads.JSON else payloads.read_jsonlines
            rows = read(text_body, names, "table")
    if not rows:
        raise payloads.PayloadError("the body holds no rows of features")
    widths = {len(row) for row in rows}
    if widths != {len(names)}:
        width = next(w for w in widths if w != len(names))
        raise payloads.PayloadError(
            f"each row needs {len(names)} columns ({', '.join(names)}), this request has a row of {width}"
        )
    try:
        return frame(columns, cells(rows, names, column_kinds))
    except CellError as exc:
        raise payloads.PayloadError(str(exc)) from None


def _csv_rows(text_body: str, names: tuple[str, ...]) -> list[list[str]]:
    """CSV rows in the model's column order; a first line of the column names (any order) is a header."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text_body), strict=True) if row]
    except csv.Error as exc:
        raise payloads.PayloadError(f"malformed CSV: {exc} (quote a cell that holds commas or quotes)") from None
    if rows and len(rows[0]) == len(names) and {c.strip() for c in rows[0]} == set(names):
        header = [c.strip() for c in rows[0]]
        order = [header.index(n) for n in names]
        rows = [[row[i] for i in order] if len(row) == len(names) else row for row in rows[1:]]
    return rows
