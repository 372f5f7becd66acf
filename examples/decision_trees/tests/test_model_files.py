"""The model's files: model.json's digests and MODEL_SHA256.

model.json records each file's SHA-256, train logs model.json's own digest for MODEL_SHA256,
and a file changed after training, or a model.json other than the pinned one, is refused at
load with both digests (/ping 503; 400 for a multi-model load).
"""

import json
import shutil

import pytest
import requests
from conftest import CODE, PAYLOAD, start_server

from contract import model_artifact
from contract.model_store import BadRequest, ModelStore


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
