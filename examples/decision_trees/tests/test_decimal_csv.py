"""The vectorised CSV reader: the same matrix as numpy's reader, or None (never a wrong value)."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import decimal_csv, payloads

pytestmark = pytest.mark.deep  # the contract's CSV reader (make test-all)


@pytest.fixture(autouse=True)
def any_size(monkeypatch):
    monkeypatch.setattr(decimal_csv, "MIN_BYTES", 0)  # small bodies too, so cases stay readable


def reference(body: bytes) -> np.ndarray:
    text = payloads.fill_empty_cells(body.decode())
    return np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64, comments=None)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: the same doubles, signs of zero and NaNs included."""
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


decimals = st.one_of(
    st.integers(-(10**15) + 1, 10**15 - 1).map(str),
    st.builds(
        lambda sign, whole, fraction: f"{sign}{whole}.{fraction}",
        st.sampled_from(["", "-"]),
        st.sampled_from(["", "0", "7"]) | st.integers(0, 10**7).map(str),
        st.sampled_from(["", "5", "05", "000"]) | st.integers(0, 10**7).map(str),
    ).filter(lambda cell: any(c.isdigit() for c in cell) and len(cell) <= 16),
    st.just(""),
    st.sampled_from(["-0", "-0.0", "0.1", "0.30000000000001", "999999999999999", "-.5", "5.", "00000000000001.5"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(decimals, min_size=n, max_size=n), min_size=1, max_size=20)),
    st.booleans(),
)
def test_plain_decimals_read_exactly_as_numpy_reads_them(rows, trailing_newline):
    body = "\n".join(",".join(row) for row in rows).encode() + (b"\n" if trailing_newline else b"")
    if all(cell == "" for row in rows for cell in row) or (len(rows[0]) == 1 and any(r == [""] for r in rows)):
        return  # no numbers at all / blank lines: the general reader's cases
    parsed = decimal_csv.parse(body)
    digits = max(sum(c.isdigit() for c in cell) for row in rows for cell in row)
    if digits > decimal_csv.MAX_DIGITS:
        assert parsed is None
    else:
        assert parsed is not None, body
        assert same(parsed, reference(body)), body


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789-.,\n", max_size=200))
def test_any_text_of_its_bytes_is_read_exactly_or_left_alone(text):
    body = text.encode()
    parsed = decimal_csv.parse(body)
    if parsed is not None:
        try:
            expected = reference(body)
        except ValueError:
            pytest.fail(f"numpy rejects {body!r}, the vectorised reader read {parsed!r}")
        assert same(parsed, expected), body


@pytest.mark.parametrize(
    "body",
    [
        b"1e5,2\n",  # exponent
        b"+1,2\n",  # plus sign
        b" 1,2\n",  # space
        b"1,2\r\n3,4\r\n",  # CR
        b'"1",2\n',  # quotes
        b"nan,2\n",  # written-out nan
        b"1,2\n3\n",  # ragged
        b"1,2,3\n4,5\n6\n",  # ragged with the right total
        b"1.2.3,4\n",  # two points
        b"1-2,3\n",  # a minus inside
        b"-,1\n",  # a minus alone
        b".,1\n",  # a point alone
        b"1234567890123456,1\n",  # 16 digits: not exact
        b"0.000000000000001,1\n",  # 17 bytes
        b"1\n\n2\n",  # a blank line in one column
        b"a,b\n1,2\n",  # a header
    ],
)
def test_anything_else_is_left_to_the_general_reader(body):
    assert decimal_csv.parse(body) is None


def test_big_bodies_use_it_and_small_ones_do_not(monkeypatch):
    monkeypatch.undo()
    row = b"5.1,-3.5,1.4,0.2\n"
    assert decimal_csv.parse(row) is None  # below MIN_BYTES the general reader is faster
    body = row * (max(decimal_csv.MIN_BYTES, 3 * decimal_csv.BLOCK) // len(row) + 1)  # several blocks
    parsed = decimal_csv.parse(body)
    assert parsed is not None and same(parsed, reference(body))


def test_a_bad_cell_in_a_big_body_still_gets_the_general_readers_message():
    body = b"5.1,3.5,1.4,0.2\n" * 5000 + b"5.1,oops,1.4,0.2\n"
    with pytest.raises(payloads.PayloadError, match="oops"):
        payloads.decode(body, payloads.CSV)
