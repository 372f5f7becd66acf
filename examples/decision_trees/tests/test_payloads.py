"""Request and response bodies, without a server: the codecs behind /invocations."""

import io
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import payloads

pytestmark = pytest.mark.deep  # the contract's codecs, without a server (make test-all)

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


@pytest.mark.parametrize(
    "body",
    [
        b"5.1,3.5,1.4,0.2\n6.7,3,5.2,2.3\n",
        b"5.1,3.5,1.4,0.2\n6.7,3,5.2,2.3",
        b"5.1,3.5,1.4,0.2\r\n6.7,3,5.2,2.3\r\n",
        b" 5.1, 3.5,1.4 ,0.2\n\n6.7,3,5.2,2.3\n",
    ],
)
def test_csv_variants(body):
    assert np.array_equal(payloads.decode(body, payloads.CSV), ROWS)


def test_empty_csv_cells_are_missing_values():
    rows = payloads.decode(b",3.5,1.4,\n6.7,,5.2,2.3\r\n\n", payloads.CSV)
    assert rows.shape == (2, 4)
    assert np.array_equal(np.isnan(rows), [[True, False, False, True], [False, True, False, False]])
    assert payloads.decode(b"1,2\n\n3,4\n", payloads.CSV).shape == (2, 2)


def test_json_shapes():
    for value in (ROWS.tolist(), {"instances": ROWS.tolist()}):
        assert np.array_equal(payloads.decode(json.dumps(value).encode(), payloads.JSON), ROWS)
    assert payloads.decode(b"[1, 2, 3]", payloads.JSON).shape == (1, 3)


def test_npy_float32_and_int():
    for dtype in (np.float32, np.int64):
        buffer = io.BytesIO()
        np.save(buffer, ROWS.astype(dtype))
        assert np.array_equal(payloads.decode(buffer.getvalue(), payloads.NPY), ROWS.astype(dtype).astype(float))


def test_npy_never_unpickles():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(payloads.PayloadError):
        payloads.decode(buffer.getvalue(), payloads.NPY)


def test_encodings():
    labels = np.array(["setosa", "a,b", 'say "hi"'])
    assert payloads.encode(payloads.CSV, labels) == b'setosa\n"a,b"\n"say ""hi"""'
    values = np.array([0.1, 2.0, -3e-7])
    assert payloads.encode(payloads.CSV, values).decode().split("\n") == ["0.1", "2.0", "-3e-07"]
    assert json.loads(payloads.encode(payloads.JSON, values)) == {"predictions": [0.1, 2.0, -3e-07]}
    assert np.array_equal(np.load(io.BytesIO(payloads.encode(payloads.NPY, labels))), labels)


def test_probabilities_in_csv_and_json():
    labels, probabilities, classes = np.array(["x", "y"]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array(["x", "y"])
    assert payloads.encode(payloads.CSV, labels, probabilities, classes) == b"x,0.9,0.1\ny,0.2,0.8"
    answer = json.loads(payloads.encode(payloads.JSON, labels, probabilities, classes))
    assert answer == {"predictions": ["x", "y"], "probabilities": [[0.9, 0.1], [0.2, 0.8]], "classes": ["x", "y"]}


@given(st.binary(max_size=2000), st.sampled_from(payloads.CONTENT_TYPES))
def test_random_bytes_decode_or_raise_payload_error(body, content_type):
    try:
        rows = payloads.decode(body, content_type)
    except payloads.PayloadError as error:
        assert str(error)
    else:
        assert rows.ndim == 2 and rows.dtype == np.float64 and rows.size > 0


@given(
    st.lists(
        st.lists(
            st.floats(width=32, allow_nan=False, allow_infinity=False).filter(lambda v: abs(v) < 3e38),
            min_size=4,
            max_size=4,
        ),
        min_size=1,
        max_size=50,
    )
)
def test_csv_round_trips_any_float32_value(rows):
    body = "\n".join(",".join(repr(v) for v in row) for row in rows).encode()
    assert np.array_equal(payloads.decode(body, payloads.CSV), np.array(rows))


def test_k_answers_a_row_in_every_type():
    values = np.array([[1.5, -2.0], [0.25, 3.0]])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    labels = np.array([["b", "a, c"], ["a", "b"]])
    assert payloads.encode(payloads.CSV, values) == b"1.5,-2.0\n0.25,3.0"
    assert payloads.encode(payloads.CSV, labels, probabilities) == b'b,"a, c",0.9,0.1\na,b,0.2,0.8'
    assert json.loads(payloads.encode(payloads.JSON, values)) == {"predictions": values.tolist()}
    lines = payloads.encode(payloads.JSONLINES, labels).decode().split("\n")
    assert [json.loads(line) for line in lines] == [{"prediction": ["b", "a, c"]}, {"prediction": ["a", "b"]}]
    assert np.array_equal(np.load(io.BytesIO(payloads.encode(payloads.NPY, values))), values)
