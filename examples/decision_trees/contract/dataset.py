"""Training data: every CSV file of a channel, with or without a header; the label is the first
column, or the one model.py's LABEL names (a position, or a header name).

A header (a first line whose feature cells are not numbers, above lines whose cells are)
names the features; the names are kept in model.json, so requests can send JSON objects
keyed by them. Every file of every channel must then have the same header.

Features are numbers (float64), or with model.py's FEATURE_TYPE = "text" the cells as text
(str; quoted cells may hold commas and line breaks, as Python's csv and pandas write them).
Text files need a header: numbers cannot tell it from the rows below. With model.py's COLUMNS
(a table, contract/tables.py) files need a header too, and each cell is checked against its
column's kind here, so a word in a number column fails the job naming file, row and column.

SageMaker copies a channel's S3 objects into /opt/ml/input/data/<channel>/ (File mode)
or mounts them read-only (FastFile). Files that are not CSV (a manifest, _SUCCESS,
dot-files) are ignored, so a channel can point at a whole S3 prefix.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract import payloads, tables
from contract.cluster import share

CSV_SUFFIXES = (".csv", ".csv.gz")


class DataError(ValueError):
    """The data cannot be used as given; the message says which file and what to change."""


@dataclass
class Table:
    labels: np.ndarray  # the first column, as text
    features: np.ndarray  # float64 (or str cells, dtype object, for text features), one row per record
    files: list[Path]
    feature_names: tuple[str, ...] | None = None  # from the files' header, if they have one


def channel_files(directory: Path) -> list[Path]:
    files = [
        p
        for p in sorted(directory.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
        and p.name.lower().endswith(CSV_SUFFIXES)
    ]
    return [p for p in files if p.stat().st_size > 0]


def read_channel(
    name: str,
    directory: Path,
    part: tuple[int, int] | None = None,
    feature_type: str = "number",
    label: int | str = 0,
    columns: dict | None = None,
) -> Table:
    """Every CSV file of the channel, or with part=(rank, world) that host's share of them."""
    if not directory.is_dir():
        raise DataError(
            f"channel '{name}' is missing: no directory {directory}. Give the training job a '{name}' input channel."
        )
    files = channel_files(directory)
    if not files:
        present = sorted(p.name for p in directory.rglob("*") if p.is_file())[:5]
        raise DataError(
            f"channel '{name}' has no non-empty .csv files in {directory}"
            + (f" (found: {', '.join(present)})" if present else " (it is empty)")
            + ". Upload CSV files with the label in the first column (a header line is optional)."
        )
    rows_part = None
    if part is not None:
        if len(files) >= part[1]:
            files = files[share(len(files), *part)]  # whole files: no file is read twice
        else:
            rows_part = part  # fewer files than hosts: every host reads all, keeps its rows
    labels, features, width, names = [], [], None, None
    for index, path in enumerate(files):
        file_labels, file_features, file_names = read_file(path, feature_type, label, columns)
        if width is not None and file_features.shape[1] != width:
            raise DataError(
                f"{path.name} has {file_features.shape[1]} feature columns but "
                f"{files[0].name} has {width}; every file of channel '{name}' needs the same columns."
            )
        if index and file_names != names:
            raise DataError(
                f"{path.name} has {_header_words(file_names)} but {files[0].name} has {_header_words(names)}; "
                f"every file of channel '{name}' needs the same header (or none)."
            )
        width, names = file_features.shape[1], file_names
        labels.append(file_labels)
        features.append(file_features)
    table = Table(np.concatenate(labels), np.concatenate(features), files, names)
    if rows_part is not None:
        rows = share(len(table.labels), *rows_part)
        table = Table(table.labels[rows], table.features[rows], files, names)
    return table


def _header_words(names: tuple[str, ...] | None) -> str:
    return "no header" if names is None else "the header " + ",".join(names)


def read_file(
    path: Path, feature_type: str = "number", label: int | str = 0, columns: dict | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """(labels, features, feature names from the header or None).

    columns: model.py's COLUMNS; when given, features are an object array of each column's values
    (float, str, or None for a missing category), checked against its kind."""
    try:
        with _open_text(path) as f:
            text = f.read()
    except (OSError, ValueError) as exc:  # unreadable, not gzip, not UTF-8 (UnicodeDecodeError)
        raise DataError(f"{path.name} cannot be read as UTF-8 CSV text: {exc}") from exc
    if feature_type == "text" or columns:
        labels, features, names = _text_cells(path, text, label)
        if columns:
            first = next(row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row))
            features = _table_cells(path, features, names, columns, first[_label_index(path, label, first)].strip())
        return _checked_labels(path, labels), features, names
    rows = [
        row for _, row in zip(range(2), csv.reader(line for line in io.StringIO(text) if line.strip()), strict=False)
    ]
    columns = len(rows[0]) if rows else 0
    if columns < 2:
        raise DataError(f"{path.name} has a single column; put the label first and at least one feature after it.")
    at = _label_index(path, label, rows[0])
    names = _header_names(path, rows[0], at) if _is_header(rows, at) else None
    if isinstance(label, str) and names is None:
        raise DataError(f"{path.name} has no header line, so LABEL = {label!r} names no column; give LABEL a position")
    if names is not None:
        start = len(text) - len(text.lstrip())
        end = text.find("\n", start)
        text = "" if end < 0 else text[end + 1 :]  # the lines after the header
    options = {"delimiter": ",", "quotechar": '"', "comments": None, "ndmin": 2}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "input contained no data" is a failure here
            labels = np.loadtxt(io.StringIO(text), dtype=str, usecols=at, **options)[:, 0]
            text = payloads.fill_empty_cells(text)  # an empty feature is a missing value (nan)
            others = range(1, columns) if at == 0 else [i for i in range(columns) if i != at]
            features = np.loadtxt(io.StringIO(text), dtype=np.float64, usecols=others, **options)
    except (ValueError, UserWarning) as exc:
        reason = str(exc).rstrip(".")
        raise DataError(
            f"{path.name}: {reason}. Features must be numbers, the label comes first (or where LABEL says), and a "
            'header (if any) is the first line only (text features: set FEATURE_TYPE = "text" in model.py; a '
            "table of numbers and categories: COLUMNS)."
        ) from exc
    too_big = np.abs(features) >= payloads.FLOAT32_LIMIT  # the libraries compute in float32
    if too_big.any():
        row, column = (int(i) + 1 for i in np.argwhere(too_big)[0])
        raise DataError(
            f"{path.name}: row {row}, feature column {column} is infinite or beyond float32 range; "
            "use finite numbers (write nan for a missing value)"
        )
    return _checked_labels(path, np.char.strip(labels)), features, names


def _checked_labels(path: Path, labels: np.ndarray) -> np.ndarray:
    if np.any(labels == ""):
        row = int(np.argmax(labels == "")) + 1
        raise DataError(f"{path.name}: row {row} has an empty label.")
    return labels


def _label_index(path: Path, label: int | str, first: list[str]) -> int:
    """The label's position in a row, from LABEL (a position, or a name in the first line)."""
    width = len(first)
    if isinstance(label, str):
        header = [cell.strip() for cell in first]
        if label not in header:
            raise DataError(
                f"{path.name}: LABEL = {label!r} in model.py is not a column of its header "
                f"({', '.join(header)}); name the label column as the header does"
            )
        return header.index(label)
    if not -width <= label < width:
        raise DataError(f"{path.name} has {width} columns, so LABEL = {label} in model.py names none of them")
    return label % width


def _table_cells(path: Path, features: np.ndarray, names: tuple[str, ...], declared: dict, label: str) -> np.ndarray:
    try:
        column_kinds = tables.kinds(names, declared, label)
        return tables.cells(features.tolist(), names, column_kinds)
    except tables.CellError as exc:
        raise DataError(f"{path.name}: {exc}; write a {declared.get(exc.column, 'number')} there") from None
    except ValueError as exc:
        raise DataError(f"{path.name}: {exc}") from None


def _header_names(path: Path, header: list[str], at: int = 0) -> tuple[str, ...]:
    names = tuple(cell.strip() for i, cell in enumerate(header) if i != at)
    if any(not n for n in names) or len(set(names)) != len(names):
        raise DataError(f"{path.name}: the header's feature names must be distinct and not empty: {header}")
    return names


def _text_cells(path: Path, text: str, label: int | str = 0) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Text features: a header line, then rows of cells kept as str (the label stripped, features as written)."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text), strict=True) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DataError(f"{path.name} is not valid CSV: {exc}") from exc
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DataError(
            f"{path.name} needs a header line (label first, then the names of the text columns) and at least one row "
            'below it: with FEATURE_TYPE = "text" or COLUMNS, the first line always names the columns.'
        )
    header, body = rows[0], rows[1:]
    at = _label_index(path, label, header)
    names = _header_names(path, header, at)
    for number, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise DataError(
                f"{path.name}: row {number} has {len(row)} cells but the header has {len(header)}; "
                'quote a text that holds commas or line breaks ("like, this").'
            )
    labels = np.array([row[at].strip() for row in body])
    if header[at].strip() in set(labels.tolist()):
        raise DataError(
            f"{path.name}: the first line looks like a row, not a header: its label {header[at].strip()!r} is also "
            'a label below. With FEATURE_TYPE = "text" or COLUMNS, the first line names the columns (e.g. label,'
            f"{','.join(f'text_{i + 1}' for i in range(len(header) - 1))})."
        )
    features = np.empty((len(body), len(header) - 1), dtype=object)
    features[:] = [row[:at] + row[at + 1 :] for row in body]
    return labels, features, names


def _is_header(rows: list[list[str]], at: int = 0) -> bool:
    """A first row whose feature cells are not all numbers, above a row whose cells are."""
    return (
        len(rows) == 2 and not _numeric(rows[0][:at] + rows[0][at + 1 :]) and _numeric(rows[1][:at] + rows[1][at + 1 :])
    )


def _numeric(cells: list[str]) -> bool:
    try:
        [float(c) for c in cells if c.strip()]  # an empty cell is a missing value
    except ValueError:
        return False
    return True


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")
