"""A vectorised reader for the CSV that batch transform sends most: plain decimal numbers.

`np.loadtxt` parses one cell at a time (0.2-0.3 s for a 4 MB batch here); this reads the
same bytes with whole-array numpy operations, several times faster. It takes only rows of
plain decimals: an optional minus, digits with at most one point, at most 15 digits and 16
bytes a cell (so the value is exact: an integer mantissa divided by an exact power of ten,
one IEEE rounding, the same double that strtod gives), and empty cells (nan). For anything
else (exponents, nan or inf written out, a plus sign, spaces, quotes, CR, blank lines,
ragged rows, longer cells) it returns None, and the caller uses the general reader, which
also words the errors. Below MIN_BYTES the general reader is the faster one.

How: each cell is read as the 8-byte words that end where it ends, bytes before the cell
masked off, and the digits of each word are combined with three multiplications
(SIMD-within-a-register), the point read as a 0 digit and taken out afterwards.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import numpy as np

MIN_BYTES = 16 * 1024
BLOCK = 64 * 1024  # bytes of rows decoded per step
MAX_DIGITS = 15  # below 2**53: every such integer is an exact double
MAX_WORDS = 2  # 8-byte words per cell: cells of up to 16 bytes
ALLOWED = b"0123456789-.,\n"
MINUS, POINT, COMMA, NEWLINE, ZERO = (ord(c) for c in "-.,\n0")
U64 = np.uint64
POWERS = 10 ** np.arange(8 * MAX_WORDS, dtype=np.int64)  # exact
FLOAT_POWERS = POWERS.astype(np.float64)


def _masks(words: int) -> list[np.ndarray]:
    """masks[i][width]: the bytes of word i that hold a cell of `width` bytes right-aligned in `words` words."""

    def mask(i: int, width: int) -> int:
        return sum(0xFF << 8 * b for b in range(8) if 8 * i + b >= 8 * words - width)

    return [np.array([mask(i, width) for width in range(8 * words + 1)], dtype=U64) for i in range(words)]


MASKS = {words: _masks(words) for words in range(1, MAX_WORDS + 1)}
NO_POINT = 64  # bits set in (word - 1) when a word holds no point


def parse(body: bytes) -> np.ndarray | None:
    """The rows as a float64 matrix, or None when the body is not plain decimal CSV."""
    if len(body) < MIN_BYTES or body.translate(None, ALLOWED):
        return None  # small, or a byte that plain decimals never hold
    if not body.endswith(b"\n"):
        body += b"\n"
    columns = body.count(b",", 0, body.index(b"\n")) + 1
    rows = body.count(b"\n")
    # Zeros in front give the first cell its words. `words` reads 8 bytes from any offset as
    # one little-endian integer.
    padded = bytes(8 * MAX_WORDS) + body
    data = np.frombuffer(padded, dtype=np.uint8)
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    values = np.empty(rows * columns)
    done = 0
    start = 8 * MAX_WORDS
    while start < len(padded):
        # Whole rows, about BLOCK bytes: every temporary stays small (in cache, no fresh pages).
        stop = padded.rfind(b"\n", start, start + BLOCK) + 1 or padded.index(b"\n", start) + 1
        block = _block(data, start, stop, columns)
        if block is None or done + len(block[0]) > len(values):
            return None
        ends, widths, negative = block
        if not _decode(words, ends, widths, negative, values[done : done + len(ends)]):
            return None
        done, start = done + len(ends), stop
    return values.reshape(rows, columns) if done == len(values) else None


def _block(data: np.ndarray, start: int, stop: int, columns: int):
    """(ends, widths, negative) of the cells in data[start:stop], or None if its rows are ragged."""
    ends = np.flatnonzero(data[start:stop] <= COMMA) + start  # a comma or a newline: the only bytes <= ","
    row_ends = data[ends] == NEWLINE
    # Every row has `columns` cells: the newlines are exactly every columns-th end.
    if len(ends) % columns or np.count_nonzero(row_ends) * columns != len(ends):
        return None
    if not row_ends[columns - 1 :: columns].all():
        return None
    starts = np.empty_like(ends)
    starts[0] = start
    starts[1:] = ends[:-1] + 1
    widths = ends - starts
    if widths.max() > 8 * MAX_WORDS or (columns == 1 and not widths.all()):
        return None  # long cells, or blank lines (the general reader skips them)
    return ends, widths, data[starts] == MINUS


def _decode(words: np.ndarray, ends: np.ndarray, widths: np.ndarray, negative: np.ndarray, out: np.ndarray) -> bool:
    """The cells' values into out; False if a cell is not a plain decimal."""
    word_count = (int(widths.max()) + 7) // 8 or 1
    # Each cell right-aligned in word_count words: word i starts 8 * (word_count - i) bytes before its end.
    first = ends - 8 * word_count
    cells = np.stack([words[first + 8 * i] for i in range(word_count)], axis=1)
    for i, masks in enumerate(MASKS[word_count]):
        cells[:, i] &= masks.take(widths)  # bytes before the cell become 0
    text = cells.view(np.uint8)  # cells x 8 * word_count bytes, in order
    is_point = text == POINT
    points = is_point.view(U64)  # per word, 0x01 in the byte of a point
    digits = text - np.uint8(ZERO)
    digits *= digits < 10  # the point, the minus and the masked bytes read as 0
    raw = _eight_digits(digits.view(U64)[:, 0])
    # A word with one point holds 0x01 << 8 * byte, so (word - 1) has 8 * byte bits set.
    point_bits = np.bitwise_count(points[:, 0] - U64(1)).astype(np.int64)
    for i in range(1, word_count):
        raw = raw * U64(10**8) + _eight_digits(digits.view(U64)[:, i])
        later = np.bitwise_count(points[:, i] - U64(1))
        point_bits = np.where(point_bits == NO_POINT, later + 64 * i, point_bits)
    has_point = point_bits < NO_POINT * word_count
    counted = widths - has_point - negative  # the cell's digits, if all else is well formed
    empty = widths == 0
    if (
        np.count_nonzero(is_point) != np.count_nonzero(has_point)  # two points in a cell
        or np.count_nonzero(text == MINUS) != np.count_nonzero(negative)  # a minus inside a cell
        or counted.max() > MAX_DIGITS  # too many digits to be exact
        or (counted[~empty] == 0).any()  # a minus or a point alone
    ):
        return False
    # With d decimals, raw = integer_part * 10**(d+1) + fraction: the point was read as a 0.
    raw = raw.astype(np.int64)
    decimals = np.where(has_point, 8 * word_count - 1 - point_bits // 8, 0)
    fraction = raw % POWERS[decimals]
    mantissa = np.where(has_point, (raw - fraction) // 10 + fraction, raw)
    np.divide(mantissa, FLOAT_POWERS[decimals], out=out)
    np.negative(out, out=out, where=negative)
    out[empty] = np.nan
    return True


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """Eight digit values (0-9, one a byte, most significant first in memory) as one integer."""
    pairs = word * U64(10) + (word >> U64(8))  # each even byte: two digits
    low, high = U64(0x000000FF000000FF), U64(16)
    # Two multiplications place the four pairs at 10**6, 10**4, 10**2 and 1 in the top half.
    return ((pairs & low) * U64(100 + (1000000 << 32)) + ((pairs >> high) & low) * U64(1 + (10000 << 32))) >> U64(32)
