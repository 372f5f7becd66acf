"""Tables (model.py's COLUMNS) and the label column (LABEL): the contract's reading of training
files and requests, tested here whatever this project's own model reads, with a small table
model of the tests' own trained by the real `train` code."""

import importlib.util
import io
import json
import types
from pathlib import Path

import numpy as np
import pytest

from contract import dataset, interface, payloads, tables, training
from contract.paths import Paths

pytestmark = pytest.mark.deep  # the contract's reading of tables (make test-all)
needs_pandas = pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None,
    reason="pandas is not installed here: only a project whose model.py sets COLUMNS has it in requirements.txt",
)

HEADER = "tenure,plan,state,note,churned"
ROWS = ["12,basic,CA,hi,yes", "40,premium,NY,,no", "3,basic,TX,call me,yes", "55,standard,CA,ok,no"]
DECLARED = {"plan": "category", "state": "category", "note": "text"}


def write(tmp_path: Path, lines: list[str], name: str = "churn.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_label_by_position_last_and_by_name_read_the_same_numbers(tmp_path):
    first = dataset.read_file(write(tmp_path, ["y,a,b", "1,0.5,2", "0,1.5,3"], "first.csv"))
    last = dataset.read_file(write(tmp_path, ["a,b,y", "0.5,2,1", "1.5,3,0"], "last.csv"), label=-1)
    named = dataset.read_file(write(tmp_path, ["a,y,b", "0.5,1,2", "1.5,0,3"], "named.csv"), label="y")
    for labels, features, names in (last, named):
        assert labels.tolist() == first[0].tolist() and np.array_equal(features, first[1])
        assert names == ("a", "b")


def test_a_label_name_needs_a_header_that_has_it(tmp_path):
    with pytest.raises(dataset.DataError, match="LABEL = 'y' in model.py is not a column"):
        dataset.read_file(write(tmp_path, ["a,b,c", "1,2,3"]), label="y")
    with pytest.raises(dataset.DataError, match="LABEL = 5 in model.py names none"):
        dataset.read_file(write(tmp_path, ["1,2,3"]), label=5)


def test_columns_naming_a_column_the_header_lacks_fails_with_a_sentence(tmp_path):
    path = write(tmp_path, [HEADER, *ROWS])
    with pytest.raises(dataset.DataError, match="COLUMNS in model.py names 'plans', which the header does not have"):
        dataset.read_file(path, label="churned", columns={"plans": "category"})


def test_a_word_in_a_number_column_names_file_row_and_column(tmp_path):
    path = write(tmp_path, [HEADER, *ROWS[:2], "abc,basic,CA,,yes"])
    with pytest.raises(dataset.DataError, match=r"churn.csv: row 3, column 'tenure': 'abc' is not a number"):
        dataset.read_file(path, label="churned", columns=DECLARED)


def test_a_wrong_declaration_stops_model_py_with_a_sentence():
    module = types.ModuleType("model")
    module.fit = lambda params, train, validation, job: None
    module.save = lambda model, directory: None
    module.load = lambda directory, threads: None
    module.predict = lambda model, X: None
    module.COLUMNS = {"plan": "categorical"}
    with pytest.raises(interface.InterfaceError, match="COLUMNS maps header names to one of number, category, text"):
        interface.check(module)
    module.COLUMNS, module.LABEL = {}, True
    with pytest.raises(interface.InterfaceError, match="LABEL must be a column position"):
        interface.check(module)
    module.COLUMNS, module.LABEL = {"plan": "category"}, "churned"
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(interface.InterfaceError, match="needs pandas: add pandas to requirements.txt"):
            interface.check(module)
    else:
        assert interface.check(module) is module


@needs_pandas
def test_training_cells_become_a_frame_with_fixed_sorted_categories(tmp_path):
    labels, cells, names = dataset.read_file(write(tmp_path, [HEADER, *ROWS]), label="churned", columns=DECLARED)
    assert labels.tolist() == ["yes", "no", "yes", "no"] and names == ("tenure", "plan", "state", "note")
    columns = tables.schema(names, tables.kinds(names, DECLARED), cells, sorted)
    assert columns[1] == {"name": "plan", "kind": "category", "categories": ["basic", "premium", "standard"]}
    frame = tables.frame(columns, cells)
    assert list(frame.columns) == list(names)
    assert str(frame["tenure"].dtype) == "float64" and str(frame["plan"].dtype) == "category"
    assert frame["note"].tolist() == ["hi", "", "call me", "ok"]  # an empty text cell is ""


@needs_pandas
def test_every_request_format_decodes_to_the_same_table(tmp_path):
    labels, cells, names = dataset.read_file(write(tmp_path, [HEADER, *ROWS]), label="churned", columns=DECLARED)
    columns = tables.schema(names, tables.kinds(names, DECLARED), cells, sorted)
    objects = [{"note": "hi", "state": "CA", "plan": "basic", "tenure": 12}, {"plan": "premium", "tenure": 40.0,
               "state": "NY", "note": None}]  # fmt: skip
    lists = [[12, "basic", "CA", "hi"], [40, "premium", "NY", ""]]
    bodies = {
        "csv": (payloads.CSV, b"12,basic,CA,hi\n40,premium,NY,\n"),
        "csv with header": (payloads.CSV, b"state,plan,note,tenure\nCA,basic,hi,12\nNY,premium,,40\n"),
        "json objects": (payloads.JSON, json.dumps(objects).encode()),
        "json lists": (payloads.JSON, json.dumps(lists).encode()),
        "instances": (payloads.JSON, json.dumps({"instances": objects}).encode()),
        "json lines": (payloads.JSONLINES, "\n".join(json.dumps(o) for o in objects).encode()),
    }
    frames = {k: tables.decode(body, kind, None, columns) for k, (kind, body) in bodies.items()}
    first = frames["csv"]
    assert first["plan"].tolist() == ["basic", "premium"] and first["tenure"].tolist() == [12.0, 40.0]
    for name, frame in frames.items():
        assert frame.equals(first), name


@needs_pandas
def test_a_bad_cell_is_a_400_naming_row_and_column_and_an_unseen_category_is_missing(tmp_path):
    labels, cells, names = dataset.read_file(write(tmp_path, [HEADER, *ROWS]), label="churned", columns=DECLARED)
    columns = tables.schema(names, tables.kinds(names, DECLARED), cells, sorted)
    with pytest.raises(payloads.PayloadError, match=r"row 2, column 'tenure': 'many' is not a number"):
        tables.decode(b"1,basic,CA,x\nmany,basic,CA,x\n", payloads.CSV, None, columns)
    with pytest.raises(payloads.PayloadError, match=r"row 1, column 'note': 5 is not text"):
        tables.decode(b'[[1, "basic", "CA", 5]]', payloads.JSON, None, columns)
    frame = tables.decode(b"1,gold,CA,x\n", payloads.CSV, None, columns)
    assert frame["plan"].isna().tolist() == [True]  # unseen at training: a missing value
    with pytest.raises(payloads.PayloadError, match="cannot carry"):
        buffer = io.BytesIO()
        np.save(buffer, np.ones((1, 4)))
        tables.decode(buffer.getvalue(), payloads.NPY, None, columns)
    numbers = [{"name": "a", "kind": "number"}, {"name": "b", "kind": "number"}]
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 2.0]]))
    assert tables.decode(buffer.getvalue(), payloads.NPY, None, numbers).to_numpy().tolist() == [[1.0, 2.0]]


def _plan_model() -> types.ModuleType:
    """A table model of the tests' own: each plan's most common label (JSON), numbers unused."""
    module = types.ModuleType("plan_model")
    module.COLUMNS, module.LABEL, module.FRAMEWORK = DECLARED, "churned", "plan-table"

    def fit(params, train, validation, job):
        assert str(train.X["plan"].dtype) == "category" and "churned" not in train.X
        votes = {}
        for plan, label in zip(train.X["plan"].astype(object).tolist(), train.y.tolist(), strict=True):
            votes.setdefault(str(plan), []).append(label)
        return {plan: max(set(v), key=v.count) for plan, v in votes.items()}

    module.fit = fit
    module.save = lambda model, directory: (directory / "plans.json").write_text(json.dumps(model))
    module.load = lambda directory, threads: json.loads((directory / "plans.json").read_text())
    module.predict = lambda model, X: np.array([model.get(str(p), 0) for p in X["plan"].astype(object).tolist()])
    return interface.check(module)


@needs_pandas
def test_train_records_the_columns_and_serving_decodes_by_them(tmp_path):
    root = tmp_path / "opt_ml"
    (root / "input" / "data" / "training").mkdir(parents=True)
    write(root / "input" / "data" / "training", ["plan,churned,tenure,state,note", "basic,yes,1,CA,a",
          "premium,no,2,NY,b", "basic,yes,3,CA,c", "premium,no,4,TX,d"])  # fmt: skip
    code = _plan_model()
    training.train(Paths(root), code)
    meta = json.loads((root / "model" / "model.json").read_text())
    assert [c["name"] for c in meta["columns"]] == ["plan", "tenure", "state", "note"]
    assert meta["columns"][2] == {"name": "state", "kind": "category", "categories": ["CA", "NY", "TX"]}
    from contract import model_artifact

    model = model_artifact.load(code, root / "model")
    rows = model.decode(b"basic,9,WA,x\npremium,9,CA,y\n", payloads.CSV)
    assert model.predict(rows).tolist() == ["yes", "no"]
