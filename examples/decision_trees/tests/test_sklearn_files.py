"""scikit-learn's model files (contract/sklearn_files.py): an object skops cannot save, or a type
TRUSTED_TYPES does not name, fails the training job with its path, its type and the ways forward;
MODEL_FORMAT = "joblib" saves it. test_model_files.py checks every model's files.
"""

import json
import shutil
import subprocess

import pytest
import requests
from conftest import CODE, PAYLOAD, entry, program_copy, program_env, start_server

# A model.py that opted in to joblib holds what skops cannot save: no untrusted type is reached at load.
skops_saves_it = pytest.mark.skipif(getattr(CODE, "MODEL_FORMAT", "skops") != "skops", reason="saved with joblib")


# A FunctionTransformer in front of the user's model, holding an array.array, which
# pickle saves and skops cannot; appended to model.py, so it wraps whatever model the user fits.
UNSAVABLE = """

_users_fit = fit


def unchanged(X, weights):
    return X


def fit(params, train, validation, job):
    import array

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    step = FunctionTransformer(unchanged, kw_args={"weights": array.array("d", [1.0])}).fit(train.X)
    return make_pipeline(step, _users_fit(params, train, validation, job))
"""


def train_with(tmp_path, trained, addition: str):
    """`train` on the sample job with model.py plus addition; (result, /opt/ml, program folder)."""
    program = program_copy(tmp_path)
    (program / "model.py").write_text((program / "model.py").read_text() + addition)
    opt_ml = tmp_path / "opt_ml"
    shutil.copytree(trained / "input", opt_ml / "input")
    env = program_env(opt_ml)
    result = subprocess.run([str(entry(program, "train"))], env=env, capture_output=True, text=True, timeout=600)
    return result, opt_ml, program


def failure(opt_ml) -> str:
    return (opt_ml / "output" / "failure").read_text()


@pytest.mark.deep
def test_an_object_skops_cannot_save_fails_training_with_its_path_type_and_the_ways(trained, tmp_path):
    result, opt_ml, _ = train_with(tmp_path, trained, UNSAVABLE + 'MODEL_FORMAT = "skops"\n')
    assert result.returncode == 1, result.stdout + result.stderr
    reason = failure(opt_ml)
    assert "skops cannot save steps[0][1].kw_args['weights'] (a array.array)" in reason, reason
    assert all(way in reason for way in ("TRUSTED_TYPES", "replace it", 'MODEL_FORMAT = "joblib"')), reason
    assert len(reason) <= 1024 and not reason.endswith("…"), reason
    assert not (opt_ml / "model" / "model.json").exists()


@skops_saves_it
@pytest.mark.deep
def test_untrusted_types_are_listed_all_at_once(trained, tmp_path):
    two_types = """
_users_fit_for_two_types = fit


def fit(params, train, validation, job):
    import copy

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    # Two functions skops does not trust by itself, each handing X on as it is (an array or a table).
    steps = FunctionTransformer(copy.copy).fit(train.X), FunctionTransformer(copy.deepcopy).fit(train.X)
    return make_pipeline(*steps, _users_fit_for_two_types(params, train, validation, job))


MODEL_FORMAT = "skops"
TRUSTED_TYPES = []
"""
    result, opt_ml, _ = train_with(tmp_path, trained, two_types)
    assert result.returncode == 1, result.stdout + result.stderr
    reason = failure(opt_ml)
    listed = reason.split("TRUSTED_TYPES does not name: ")[1].split(". Three ways")[0].split(", ")
    assert {"copy.copy", "copy.deepcopy"} <= set(listed), reason  # both functions, at once
    assert "trust the type" in reason and "replace the objects" in reason and "joblib" in reason


@pytest.mark.deep
def test_model_format_joblib_saves_what_skops_cannot_and_serves_it(trained, tmp_path):
    result, opt_ml, program = train_with(tmp_path, trained, UNSAVABLE + 'MODEL_FORMAT = "joblib"\n')
    assert result.returncode == 0, result.stdout + result.stderr
    files = json.loads((opt_ml / "model" / "model.json").read_text())["files"]
    assert list(files) == ["model.joblib"]
    server = start_server(opt_ml, tmp_path, program=program, SAGEMAKER_MODEL_SERVER_WORKERS=1)
    try:
        answer = requests.post(server.url + "/invocations", data=PAYLOAD.read_bytes(), timeout=30,
                               headers={"Content-Type": "text/csv"})  # fmt: skip
        assert answer.status_code == 200 and answer.text.strip(), answer
    finally:
        server.stop()
