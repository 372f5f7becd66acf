"""Whatever a caller sends, /invocations answers 2xx or 4xx with a message, never 5xx, and keeps serving.

Property-based: hypothesis generates random bytes, CSV of random shapes and values, JSON
of the wrong shape, .npy files of every dtype and rank, and text in other encodings. The
same corpus runs against the host server (`make test`) and once against the real container
(`make test-container`).
"""

import io
import json

import numpy as np
import pytest
import requests
from conftest import FIGURES
from endpoints import serving_container
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.deep  # payload fuzzing of the contract's decoders (make test-all)

CONTENT_TYPES = ["text/csv", "application/json", "application/x-npy", "text/csv; charset=utf-8", "text/plain", ""]
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.sampled_from([1e308, -1e308, 5e-324, 3.4e38, 3.5e38, 0.0, -0.0]),
)
odd_cells = st.sampled_from(["", " ", "nan", "NaN", "inf", "1e", "--1", "١"])
cells = st.one_of(numbers.map(repr), st.text(max_size=8), odd_cells)
csv_bodies = st.lists(st.lists(cells, min_size=0, max_size=8), min_size=0, max_size=20).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=9), inner, max_size=3)),
    max_leaves=30,
)
npy_dtypes = st.sampled_from(["f4", "f8", "i1", "u8", "?", "c16", "U5", "S3", "M8[s]", "f2"])


def npy_body(dtype: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, dtype=dtype))
    return buffer.getvalue()


bodies = st.one_of(
    st.binary(max_size=3000),
    csv_bodies.map(str.encode),
    csv_bodies.map(lambda text: text.encode("utf-16")),
    csv_bodies.map(lambda text: text.encode("latin-1", "replace")),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(npy_body, npy_dtypes, st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)),
    st.just(npy_body("O", (2, 2)).replace(b"|O", b"<f8")),  # a header that lies about its data
)


def check(url: str, body: bytes, content_type: str, accept: str) -> None:
    headers = {"Content-Type": content_type, "Accept": accept} if content_type else {"Accept": accept}
    response = requests.post(url + "/invocations", data=body, headers=headers, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text, body[:200], content_type)
    if response.status_code >= 400:
        assert response.json()["error"]


def fuzz(url: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies, st.sampled_from(CONTENT_TYPES), st.sampled_from(["text/csv", "application/json", "*/*", "x/y"]))
    def one(body, content_type, accept):
        check(url, body, content_type, accept)

    one()
    FIGURES.append(f"fuzz: {examples} random requests to {url}/invocations, none answered 5xx")
    assert requests.get(url + "/ping", timeout=2).status_code == 200


def test_random_requests_never_get_a_5xx(server):
    fuzz(server.url, examples=400)


@pytest.mark.container
def test_the_same_corpus_against_the_container(image, trained):
    with serving_container(image, trained / "model", prefix="byoc-fuzz") as (url, _):
        fuzz(url, examples=400)
