"""Text features (model.py's FEATURE_TYPE = "text"): the contract's reading of training files
and requests, tested here whatever this project's own model reads."""

import io
import json

import numpy as np
import pytest

from contract import dataset, payloads

pytestmark = pytest.mark.deep  # the contract's reading of text cells (make test-all)


def write(tmp_path, text: str, name: str = "reviews.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_cells_stay_text_with_quotes_commas_and_line_breaks(tmp_path):
    path = write(tmp_path, 'sentiment,review,title\r\npos,"great, really",Up\n\nneg,"dull\nand ""slow""",007\n')
    labels, features, names = dataset.read_file(path, "text")
    assert names == ("review", "title")
    assert labels.tolist() == ["pos", "neg"]
    assert features.dtype == object and features.shape == (2, 2)
    assert features.tolist() == [["great, really", "Up"], ['dull\nand "slow"', "007"]]  # "007" stays text


def test_a_gzipped_channel_of_several_files(tmp_path):
    import gzip

    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"label,text\nx,one\ny,two\n"))
    write(tmp_path, "label,text\nx,three\n", "b.csv")
    table = dataset.read_channel("training", tmp_path, feature_type="text")
    assert table.labels.tolist() == ["x", "y", "x"]
    assert table.features[:, 0].tolist() == ["one", "two", "three"]
    assert table.feature_names == ("text",)


@pytest.mark.parametrize(
    "content, words",
    [
        ("pos,great film\nneg,dull film\npos,fine\n", ["looks like a row", "'pos'", "label,text_1"]),
        ("label,text\n", ["needs a header line"]),
        ("label\nx\n", ["needs a header line"]),
        ("label,text\npos,great, really\n", ["row 1 has 3 cells", "quote"]),
        ("label,text,text\npos,a,b\n", ["distinct"]),
        ('label,text\npos,"never closed\n', ["not valid CSV"]),
        ("label,text\n,no label\n", ["row 1", "empty label"]),
    ],
)
def test_unusable_text_files_fail_saying_what_to_change(tmp_path, content, words):
    with pytest.raises(dataset.DataError) as failure:
        dataset.read_file(write(tmp_path, content), "text")
    for word in words:
        assert word in str(failure.value)


def test_numbers_mode_points_a_text_file_to_feature_type(tmp_path):
    with pytest.raises(dataset.DataError, match="FEATURE_TYPE"):
        dataset.read_file(write(tmp_path, "label,review\npos,great film\n"))


def decode(body: bytes, content_type: str, names=("review", "title")) -> np.ndarray:
    return payloads.decode(body, content_type, None, names, "text")


ROWS = [["great, really", "Up"], ["dull", ""]]


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'"great, really",Up\r\ndull,\r\n', payloads.CSV),
        (json.dumps(ROWS).encode(), payloads.JSON),
        (json.dumps({"instances": [{"title": "Up", "review": "great, really"}, {"review": "dull", "title": ""}]})
         .encode(), payloads.JSON),
        (b'["great, really", "Up"]\n\n{"review": "dull", "title": ""}\n', payloads.JSONLINES),
    ],
)  # fmt: skip
def test_requests_decode_to_text_cells(body, content_type):
    rows = decode(body, content_type)
    assert rows.dtype == object and rows.tolist() == ROWS


def test_npy_of_unicode_is_text_and_of_numbers_is_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.array(ROWS))
    assert decode(buffer.getvalue(), payloads.NPY).tolist() == ROWS
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 2)))
    with pytest.raises(payloads.PayloadError, match="text"):
        decode(buffer.getvalue(), payloads.NPY)


@pytest.mark.parametrize(
    "body, content_type, words",
    [
        (b'[["great", 5]]', payloads.JSON, "string"),
        (b'[{"review": "great"}]', payloads.JSON, "missing feature(s) title"),
        (b'[["a", "b"], ["c"]]', payloads.JSON, "different lengths"),
        (b'"never closed\n', payloads.CSV, "malformed CSV"),
        (b"\xff\xfe", payloads.CSV, "utf-8"),
        (b" \n", payloads.CSV, "empty"),
    ],
)
def test_bad_text_requests_are_refused_with_a_reason(body, content_type, words):
    with pytest.raises(payloads.PayloadError) as failure:
        decode(body, content_type)
    assert words in str(failure.value)
