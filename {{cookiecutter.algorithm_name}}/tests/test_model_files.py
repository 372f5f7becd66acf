"""The model's files: model.json's digests, MODEL_SHA256, and (scikit-learn) what skops refuses.

Every framework: model.json records each file's SHA-256, train logs model.json's own digest
for MODEL_SHA256, and a file changed after training, or a model.json other than the pinned
one, is refused at load with both digests (/ping 503; 400 for a multi-model load).

scikit-learn: an object skops cannot save, or a type TRUSTED_TYPES does not name, fails the
training job with its path, its type and the ways forward; MODEL_FORMAT = "joblib" saves it.
"""

import json
import shutil
import subprocess

import pytest
import requests
from conftest import CODE, PAYLOAD, entry, program_copy, program_env, start_server

from contract import interface, model_artifact
from contract.model_store import BadRequest, ModelStore

SKLEARN = interface.constant(CODE, "FRAMEWORK") == "scikit-learn"
only_sklearn = pytest.mark.applies(SKLEARN, "about scikit-learn's skops and joblib files")
# A model.py that opted in to joblib holds what skops cannot save: no untrusted type is reached at load.
skops_saves_it = pytest.mark.skipif(getattr(CODE, "MODEL_FORMAT", "skops") != "skops", reason="saved with joblib")


def copy_model(trained, tmp_path):
    """A copy of the trained /opt/ml to damage."""
    copy = tmp_path / "opt_ml"
    shutil.copytree(trained / "model", copy / "model")
    return copy


def model_file(model_dir):
    """The first file model.py's save wrote, and its recorded digest."""
    name, digest = sorted(json.loads((model_dir / "model.json").read_text())["files"].items())[0]
    return model_dir / name, digest


def test_model_json_records_every_file_and_train_logs_its_digest(trained, trained_log):
    model = trained / "model"
    files = json.loads((model / "model.json").read_text())["files"]
    written = sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file())
    assert sorted(files) == [name for name in written if name != "model.json"]
    assert all(model_artifact.sha256(model / name) == digest for name, digest in files.items())
    assert f"MODEL_SHA256={model_artifact.sha256(model / 'model.json')}" in trained_log


def test_a_file_changed_after_training_is_refused_with_both_digests(trained, tmp_path):
    model = copy_model(trained, tmp_path) / "model"
    path, recorded = model_file(model)
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(model_artifact.ModelLoadError) as refused:
        model_artifact.load(CODE, model)
    assert str(path) in str(refused.value) and recorded in str(refused.value)
    assert model_artifact.sha256(path) in str(refused.value)


def test_model_sha256_pins_model_json(trained, monkeypatch):
    model = trained / "model"
    digest = model_artifact.sha256(model / "model.json")
    monkeypatch.setenv("MODEL_SHA256", f"{'0' * 64}, {digest.upper()}")  # any of a list, any case
    assert model_artifact.load(CODE, model).n_features
    monkeypatch.setenv("MODEL_SHA256", "0" * 64)
    with pytest.raises(model_artifact.ModelLoadError) as refused:
        model_artifact.load(CODE, model)
    assert digest in str(refused.value) and "0" * 64 in str(refused.value) and "model.json" in str(refused.value)


def test_a_multi_model_load_of_a_changed_file_is_400_with_both_digests(trained, tmp_path):
    model = copy_model(trained, tmp_path) / "model"
    path, recorded = model_file(model)
    path.write_bytes(path.read_bytes()[:-1])
    store = ModelStore(tmp_path / "registry", CODE, threads=1, workers=1)
    with pytest.raises(BadRequest) as refused:
        store.load({"model_name": "changed", "url": str(model)})
    assert refused.value.status == 400 and recorded in str(refused.value) and path.name in str(refused.value)


@pytest.mark.deep
def test_the_endpoint_answers_only_with_the_pinned_model(trained, tmp_path):
    digest = model_artifact.sha256(trained / "model" / "model.json")
    pinned = start_server(trained, tmp_path, MODEL_SHA256=digest)
    try:
        answer = requests.post(pinned.url + "/invocations", data=PAYLOAD.read_bytes(), timeout=30,
                               headers={"Content-Type": "text/csv"})  # fmt: skip
        assert answer.status_code == 200, answer
    finally:
        pinned.stop()
    other = start_server(trained, tmp_path, wait_healthy=False, MODEL_SHA256="f" * 64)
    try:
        ping = requests.get(other.url + "/ping", timeout=5)
        assert ping.status_code == 503 and digest in ping.json()["error"] and "f" * 64 in ping.json()["error"]
    finally:
        other.stop()


# scikit-learn: a FunctionTransformer in front of the user's model, holding an array.array, which
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


@only_sklearn
@pytest.mark.deep
def test_an_object_skops_cannot_save_fails_training_with_its_path_type_and_the_ways(trained, tmp_path):
    result, opt_ml, _ = train_with(tmp_path, trained, UNSAVABLE + 'MODEL_FORMAT = "skops"\n')
    assert result.returncode == 1, result.stdout + result.stderr
    reason = failure(opt_ml)
    assert "skops cannot save steps[0][1].kw_args['weights'] (a array.array)" in reason, reason
    assert all(way in reason for way in ("TRUSTED_TYPES", "replace it", 'MODEL_FORMAT = "joblib"')), reason
    assert len(reason) <= 1024 and not reason.endswith("…"), reason
    assert not (opt_ml / "model" / "model.json").exists()


@only_sklearn
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


@only_sklearn
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
