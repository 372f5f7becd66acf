"""`make demo`, the README's first command: it predicts, and says nothing alarming when all is well."""

import re
import socket

from conftest import ROOT, run

# What a reader takes for trouble: nginx's and gunicorn's error levels, tracebacks, bad statuses.
ALARMING = re.compile(r"\[(crit|error|emerg|alert)\]|\[ERROR\]|Traceback|\b50[0-4]\b|warning|failed", re.I)


def test_make_demo_predicts_and_prints_no_error_looking_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(["make", "demo", f"PORT={port}"], cwd=ROOT, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    after = result.stdout.split("== predict local_test/payload.csv\n", 1)[1].splitlines()
    payload = (ROOT / "build" / "demo" / "decision_trees" / "local_test" / "payload.csv").read_text().splitlines()
    predictions = after[: len(payload)]
    assert set(predictions) <= {"setosa", "versicolor", "virginica"} and len(set(predictions)) > 1, output
    assert [line for line in output.splitlines() if ALARMING.search(line)] == [], output
