"""`serve` as a host process, in the detail only the host shows quickly: every codec and error
body, settings from the environment, the access log (test_contract.py holds the contract
itself, run here and against the image alike)."""

import io
import json
import re
import subprocess
import threading

import numpy as np
import pytest
import requests
from conftest import (
    CONTRACT,
    INPUT_TYPES,
    N_FEATURES,
    SAMPLE_COLUMNS,
    SAMPLE_ROW,
    TABLE,
    TEXT,
    csv_body,
    json_cells,
    load_model,
    numbers_only,
    program_env,
    start_server,
)

from contract import cpus, decimal_csv, serving, training

CSV = {"Content-Type": "text/csv"}
CELLS = SAMPLE_ROW.strip().split(b",")


def post(server, body, headers=None, **kwargs):
    return requests.post(server.url + "/invocations", data=body, headers=headers or CSV, timeout=60, **kwargs)


@pytest.mark.parametrize("newline, trailing", [("\n", True), ("\n", False), ("\r\n", True), ("\r\n", False)])
def test_csv_gives_one_line_per_row_in_order(server, sample_rows, expected, newline, trailing):
    response = post(server, csv_body(sample_rows, newline, trailing))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.text.split("\n") == [str(v) for v in expected]


def test_a_single_row_and_a_charset_parameter(server, sample_rows, expected):
    response = post(server, csv_body(sample_rows[:1]), {"Content-Type": "text/csv; charset=utf-8"})
    assert response.status_code == 200, response.text
    assert response.text == str(expected[0])


@pytest.mark.deep
def test_other_charsets_are_decoded(server, sample_rows, expected):
    body = csv_body(sample_rows).decode().encode("utf-16")
    response = post(server, body, {"Content-Type": "text/csv; charset=utf-16"})
    assert response.status_code == 200, response.text
    assert response.text.split("\n") == [str(v) for v in expected]


@pytest.mark.parametrize("accept", [None, "*/*", "text/csv", "text/*", "application/json;q=0.5, text/csv"])
def test_csv_is_the_default_answer(server, sample_rows, accept):
    headers = dict(CSV, **({"Accept": accept} if accept else {}))
    response = post(server, csv_body(sample_rows), headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize("shape", ["rows", "one row", "instances"])
def test_json_in_and_out(server, sample_rows, expected, shape):
    rows = json_cells(sample_rows)
    body = {"rows": rows, "one row": rows[0], "instances": {"instances": rows}}[shape]
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    response = post(server, json.dumps(body), headers)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert predictions == (expected.tolist() if shape != "one row" else expected[:1].tolist())


def test_npy_in_and_out(server, trained, sample_rows, expected):
    """float32 rows are answered as the model answers those same values widened to float64 (a
    model need not give float32-rounded inputs the answers of the originals)."""
    if TABLE:
        pytest.skip("a table model's columns go by name: .npy is refused with a reason (tests/test_tables.py)")
    rows = sample_rows.astype(str) if TEXT else sample_rows.astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, rows)
    headers = {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}
    response = post(server, buffer.getvalue(), headers)
    assert response.status_code == 200, response.text
    answer = np.load(io.BytesIO(response.content), allow_pickle=False)
    widened = expected if TEXT else load_model(trained / "model").predict(rows.astype(np.float64))
    assert answer.tolist() == widened.tolist()


def test_probabilities_on_request(server, trained, sample_rows):
    """As the model has them: a classifier whose model.py defines predict_proba must give them;
    a regression model, or a classifier without predict_proba, refuses, saying why."""
    meta = json.loads((trained / "model" / "model.json").read_text())
    if not load_model(trained / "model").has_probabilities:
        asked = {**CSV, "X-Amzn-SageMaker-Custom-Attributes": "probabilities=true"}
        refused = post(server, csv_body(sample_rows), asked)
        words = "predict_proba" if meta["task"] == "classification" else "classification"
        assert refused.status_code == 400 and words in refused.json()["error"], refused
        return
    headers = {
        "Content-Type": "text/csv",
        "Accept": "application/json",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=abc, probabilities=true",
    }
    response = post(server, csv_body(sample_rows), headers)
    assert response.status_code == 200, response  # model.py defines predict_proba: it must deliver
    answer = response.json()
    assert answer["classes"] == meta["classes"]
    probabilities = np.array(answer["probabilities"])
    assert probabilities.shape == (len(sample_rows), len(meta["classes"]))
    assert np.allclose(probabilities.sum(axis=1), 1)
    picked = np.array(meta["classes"])[probabilities.argmax(axis=1)]
    assert picked.tolist() == answer["predictions"]
    csv_answer = post(server, csv_body(sample_rows), dict(headers, Accept="text/csv")).text.split("\n")
    assert [line.split(",")[0] for line in csv_answer] == answer["predictions"]
    assert all(len(line.split(",")) == 1 + len(meta["classes"]) for line in csv_answer)


def test_unknown_sagemaker_headers_are_ignored(server, sample_rows, expected):
    headers = dict(
        CSV,
        **{
            "X-Amzn-SageMaker-Target-Model": "whatever.tar.gz",
            "X-Amzn-SageMaker-Inference-Id": "id-1",
            "X-Amzn-SageMaker-Custom-Attributes": "anything=else",
            "X-Amzn-SageMaker-Something-New": "1",
        },
    )
    response = post(server, csv_body(sample_rows), headers)
    assert response.status_code == 200
    assert response.text.split("\n") == [str(v) for v in expected]


UNSUPPORTED = [
    ("text/plain", "text/csv", 415),
    ("application/x-www-form-urlencoded", "text/csv", 415),
    ("image/png", "text/csv", 415),
    ("text/csv", "text/html", 406),
    ("text/csv", "application/xml", 406),
]


@pytest.mark.parametrize("content_type, accept, status", [t for t in UNSUPPORTED if t[0] not in INPUT_TYPES])
def test_unsupported_types(server, sample_rows, content_type, accept, status):
    response = post(server, csv_body(sample_rows), {"Content-Type": content_type, "Accept": accept})
    assert response.status_code == status
    assert response.json()["error"]


JSON = "application/json"
JSONLINES = "application/jsonlines"


def test_json_lines_in_and_out(server, sample_rows, expected):
    """Batch transform with SplitType=Line and JSON Lines: one answer line per request line."""
    body = "\n".join(json.dumps(row) for row in json_cells(sample_rows)).encode() + b"\n"
    response = post(server, body, {"Content-Type": JSONLINES, "Accept": JSONLINES})
    assert response.status_code == 200, response
    assert response.headers["Content-Type"].startswith(JSONLINES)
    lines = [json.loads(line) for line in response.text.split("\n")]
    assert [line["prediction"] for line in lines] == expected.tolist()


def test_json_objects_are_matched_to_the_training_header(server, trained, sample_rows, expected):
    names = json.loads((trained / "model" / "model.json").read_text())["feature_names"]
    headers = {"Content-Type": JSON, "Accept": JSON}
    if names is None:  # sample data without a header: objects are refused, saying why
        response = post(server, json.dumps({"instances": [{"x": 1.0}]}).encode(), headers)
        assert response.status_code == 400 and "without a header" in response.json()["error"], response
        return
    objects = [dict(reversed(list(zip(names, row, strict=True)))) for row in json_cells(sample_rows)]  # any key order
    response = post(server, json.dumps({"instances": objects}).encode(), headers)
    assert response.status_code == 200, response
    assert response.json()["predictions"] == expected.tolist()
    one = post(server, json.dumps(objects[0]).encode(), headers)
    assert one.status_code == 200 and one.json()["predictions"] == expected.tolist()[:1], one
    lines = post(server, "\n".join(json.dumps(o) for o in objects).encode(), {"Content-Type": JSONLINES})
    assert lines.status_code == 200 and lines.text.split("\n") == [str(v) for v in expected], lines
    bad = {k: v for k, v in objects[0].items() if k != names[0]} | {"colour": 1.0}
    refused = post(server, json.dumps({"instances": [objects[0], bad]}).encode(), headers)
    assert refused.status_code == 400, refused
    message = refused.json()["error"]
    assert "row 2" in message and f"missing feature(s) {names[0]}" in message and "unknown feature(s) colour" in message


MALFORMED = [
    (b"", "text/csv", "empty"),
    (b",".join([b"1"] * (N_FEATURES + 1)) + b"\n", "text/csv", "columns" if TABLE else "features"),
    (b"\xff\xfe\x00garbage", "text/csv", "utf-8"),
    (b"{not json", "application/json", "JSON"),
    (b'{"rows": [[1,2,3,4]]}', "application/json", "instances"),
    (b"not an npy file", "application/x-npy", "npy"),
]
if TABLE:  # a table: a word where a number goes, a row of the wrong width
    NUMBER = next((i for i, c in enumerate(SAMPLE_COLUMNS) if c["kind"] == "number"), None)
    MALFORMED += [
        (b'"never closed\n', "text/csv", "malformed CSV"),
        (b"[[1,2],[1]]", "application/json", "lengths"),
        (b"[1, 2]\n{not json\n", "application/jsonlines", "line 2"),
    ] + (
        [(b",".join(CELLS[:NUMBER] + [b"abc"] + CELLS[NUMBER + 1 :]) + b"\n", "text/csv", "abc")]
        if NUMBER is not None
        else []
    )
elif TEXT:  # cells are text: what breaks a text row
    MALFORMED += [
        (b'"never closed\n', "text/csv", "malformed CSV"),
        (b"[[5]]", "application/json", "string"),
        (b'[["a"],["b","c"]]', "application/json", "lengths"),
        (b'["a"]\n{not json\n', "application/jsonlines", "line 2"),
    ]
else:
    MALFORMED += [
        (b",".join(CELLS[:-1] + [b"abc"]) + b"\n", "text/csv", "abc"),
        (SAMPLE_ROW + b",".join(CELLS + [b"1"]) + b"\n", "text/csv", "column"),
        (b",".join(b"f%d" % (i + 1) for i in range(N_FEATURES)) + b"\n" + SAMPLE_ROW, "text/csv", "f1"),
        (b'[["a","b","c","d"]]', "application/json", "number"),
        (b"[[1,2,3,4],[1,2]]", "application/json", "lengths"),
        (b'[["1", "2"]]', "application/json", "number"),
        (b"[1, 2]\n{not json\n", "application/jsonlines", "line 2"),
    ]


@pytest.mark.parametrize("body, content_type, words", MALFORMED)
def test_malformed_bodies_get_400_with_a_message_and_the_worker_survives(server, body, content_type, words):
    response = post(server, body, {"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert words.lower() in response.json()["error"].lower()
    assert requests.get(server.url + "/ping", timeout=2).status_code == 200


def test_npy_of_the_wrong_dtype_or_rank(server):
    for array in (np.zeros((2, 4)) if TEXT else np.array([["a", "b", "c", "d"]]), np.zeros((2, 2, 4))):
        buffer = io.BytesIO()
        np.save(buffer, array)
        response = post(server, buffer.getvalue(), {"Content-Type": "application/x-npy"})
        assert response.status_code == 400, response.text


@numbers_only  # the vectorised reader is for numbers
def test_a_big_csv_batch_is_answered_as_the_same_rows_in_json(server, sample_rows, takes_missing_values):
    """Big CSV bodies of plain decimals take the vectorised reader: the answers must not change.
    (Blank cells too, if the model takes missing values.)"""
    rng = np.random.default_rng(3)
    repeats = -(-256 * 1024 // len(csv_body(sample_rows)))  # about 256 KB, whatever the width of a row
    rows = np.round(np.tile(sample_rows, (repeats, 1)) + rng.normal(scale=0.3, size=(len(sample_rows) * repeats, 1)), 2)
    rows[1::2, 0] = -np.abs(rows[1::2, 0]) - 1  # minus signs, whatever the sample's range
    text = "\n".join(  # row i's cell i % 997 left blank, if the model takes missing values (and the sample's blanks)
        ",".join("" if (takes_missing_values and i % 997 == j) or np.isnan(v) else f"{v:g}" for j, v in enumerate(row))
        for i, row in enumerate(rows)
    )
    assert len(text) > 64 * 1024 and "-" in text  # several blocks, minus signs
    assert (",," in text or text.startswith(",")) == takes_missing_values  # missing values, if the model takes them
    assert decimal_csv.parse(text.encode()) is not None  # the vectorised reader takes it
    as_csv = post(server, text.encode())
    as_json = post(
        server, json.dumps(json_rows(text)).encode(), {"Content-Type": "application/json", "Accept": "text/csv"}
    )
    assert as_csv.status_code == as_json.status_code == 200
    assert as_csv.text == as_json.text


def json_rows(text: str) -> list[list[float]]:
    return [[float(v) if v else float("nan") for v in line.split(",")] for line in text.split("\n")]


@pytest.mark.deep
def test_a_body_over_100_mb_gets_413(server):
    body = SAMPLE_ROW * (101 * 1024 * 1024 // len(SAMPLE_ROW) + 1)
    try:
        response = post(server, body)
    except requests.ConnectionError:
        pytest.fail("nginx closed the connection instead of answering 413")
    assert response.status_code == 413


@pytest.mark.deep
def test_oversized_headers_get_a_4xx_not_a_crash(server, sample_rows):
    headers = dict(CSV, **{"X-Amzn-SageMaker-Custom-Attributes": "x" * 40_000})
    response = post(server, csv_body(sample_rows), headers)
    assert 400 <= response.status_code < 500
    assert requests.get(server.url + "/ping", timeout=2).status_code == 200


def test_concurrent_requests_beyond_the_worker_count(server, sample_rows, expected):
    results = []

    def call():
        results.append(post(server, csv_body(sample_rows)))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 8
    assert all(r.text.split("\n") == [str(v) for v in expected] for r in results)


@pytest.mark.deep
def test_nginx_and_gunicorn_timeouts_are_equal(monkeypatch, tmp_path):
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_TIMEOUT", "123")
    config = serving.nginx_config(tmp_path, tmp_path / "sock")
    assert re.search(r"proxy_read_timeout 123s;", config)
    assert serving.timeout() == 123


@pytest.mark.deep
def test_the_port_defaults_to_8080_and_follows_sagemaker_bind_to_port(monkeypatch, tmp_path):
    monkeypatch.delenv("SAGEMAKER_BIND_TO_PORT", raising=False)
    monkeypatch.delenv("LISTEN_ADDRESS", raising=False)
    assert "listen 127.0.0.1:8080 " in serving.nginx_config(tmp_path, tmp_path / "sock")
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9191")
    assert "listen 127.0.0.1:9191 " in serving.nginx_config(tmp_path, tmp_path / "sock")


@pytest.mark.deep
@pytest.mark.parametrize("value, listen", [("0.0.0.0", "0.0.0.0:8080"), ("::1", "[::1]:8080"), (" ", "127.0.0.1:8080")])
def test_the_listen_address_follows_listen_address(monkeypatch, tmp_path, value, listen):
    monkeypatch.delenv("SAGEMAKER_BIND_TO_PORT", raising=False)
    monkeypatch.setenv("LISTEN_ADDRESS", value)
    assert f"listen {listen} " in serving.nginx_config(tmp_path, tmp_path / "sock")


@pytest.mark.parametrize(
    "files, quota",
    [
        ({"cpu.max": "150000 100000"}, 2),  # cgroup v2: 1.5 CPUs, rounded up
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({}, None),  # no cgroup files
    ],
)
def test_one_cpu_count_honours_the_cgroup_quota_for_training_and_serving(tmp_path, monkeypatch, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    cgroup_files = (tmp_path / "cpu.max", tmp_path / "cpu/cpu.cfs_quota_us")
    assert cpus.cgroup_cpu_quota(cgroup_files) == quota
    cores = cpus.cpu_count((tmp_path / "none", tmp_path / "none"))
    assert cpus.cpu_count(cgroup_files) == (min(cores, quota) if quota else cores)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert training.cpu_count() == serving.cpu_count() == cpus.cpu_count()  # the one count, this machine's
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert training.cpu_count() == 3


@pytest.mark.deep
@pytest.mark.parametrize(
    "variable, value",
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "many"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "0"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "3601"),  # InvokeEndpointAsync's longest
        ("MAX_BODY_MB", "2048"),  # async's largest body is 1 GB
        ("ACCESS_LOG", "verbose"),
        ("LISTEN_ADDRESS", "localhost"),
        ("MULTI_MODEL_MEMORY_RESERVE_MB", "lots"),
    ],
)
def test_bad_server_settings_fail_clearly(trained, variable, value):
    env = program_env(trained, **{variable: value})
    result = subprocess.run([str(CONTRACT / "serve")], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert variable in result.stderr


@pytest.mark.deep
def test_a_default_accept_the_model_cannot_answer_stops_serve_and_one_it_can_is_the_default(trained, tmp_path):
    env = program_env(trained, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="application/xml", SAGEMAKER_MODEL_SERVER_WORKERS=1)
    result = subprocess.run([str(CONTRACT / "serve")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    sentence = "serve: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='application/xml' is not a type this model answers"
    assert sentence in result.stderr, result.stderr
    server = start_server(trained, tmp_path, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="application/json")
    try:
        answer = post(server, SAMPLE_ROW)  # no Accept
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json"), answer.text
    finally:
        server.stop()


@pytest.mark.deep
@pytest.mark.parametrize(
    "setting, logged",
    [(None, {("/nowhere", "404")}), ("all", {("/ping", "200"), ("/nowhere", "404")}), ("off", set())],
)
def test_the_access_log_holds_failed_requests_unless_told_otherwise(trained, tmp_path, setting, logged):
    server = start_server(trained, tmp_path, **({"ACCESS_LOG": setting} if setting else {}))
    try:
        assert requests.get(server.url + "/ping", timeout=2).status_code == 200
        assert requests.get(server.url + "/nowhere", timeout=2).status_code == 404
    finally:
        assert server.stop() == 0  # nginx writes what it buffered as it exits
    lines = set(re.findall(r'"GET (/\S*) HTTP/1\.1" (\d{3})', server.log()))
    # Health polls while starting (499 when a poll gave up first; a 502 only if gunicorn had
    # not listened yet, which `serve` waits for) are failures, logged as such.
    assert lines - {("/ping", "200")} - logged <= {("/ping", "502"), ("/ping", "499")}
    assert {line for line in lines if line[0] == "/nowhere" or line[1] == "200"} == logged
