"""`train` as SageMaker runs it: /opt/ml in, a model or a failure reason out."""

import contextlib
import json
import re
import shutil
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
from conftest import (
    CONTRACT,
    FEATURE_TYPE,
    N_FEATURES,
    SAMPLE_HEADER,
    SAMPLE_ROW,
    TABLE,
    TEXT,
    classification_data,
    entry,
    free_port,
    is_complete_model,
    load_model,
    model_input,
    numbers_only,
    program_copy,
    program_env,
    regression_data,
    run_train,
    write_channel,
    written_width,
)

import model as framework
from contract import cluster, metrics


def model_files(opt_ml):
    folder = opt_ml / "model"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def only_file(opt_ml, channel: str, name: str, content: str) -> None:
    """The channel holds this one file (the sample data's files removed)."""
    folder = opt_ml / "input" / "data" / channel
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / name).write_text(content)


def assert_failed(result, opt_ml, *words):
    """Non-zero exit, a reason of at most 1024 characters, the traceback on stderr, no model."""
    assert result.returncode != 0, result.stdout
    reason = (opt_ml / "output" / "failure").read_text()
    assert 0 < len(reason) <= 1024
    for word in words:
        assert word in reason, reason
    assert "Traceback" in result.stderr
    assert model_files(opt_ml) == []
    return reason


def test_trains_the_sample_data(trained):
    """The sample job (conftest's `trained`, which every serving test uses) wrote a whole model."""
    assert is_complete_model(model_files(trained)), model_files(trained)
    assert not (trained / "output" / "failure").exists()
    meta = json.loads((trained / "model" / "model.json").read_text())
    assert meta["n_features"] == N_FEATURES  # the sample data's features are the sample request's
    assert meta["feature_type"] == FEATURE_TYPE
    assert set(meta["hyperparameters"]) == set(framework_schema())


def test_metric_definitions_match_the_training_log(trained, trained_log):
    task = json.loads((trained / "model" / "model.json").read_text())["task"]
    definitions = metrics.definitions(task, getattr(framework, "ITERATION_METRICS", ()))
    assert len(definitions) <= 40
    found = {}
    for definition in definitions:
        assert len(definition["Regex"]) <= 500
        match = re.search(definition["Regex"], trained_log)
        if match:
            found[definition["Name"]] = float(match.group(1))
    assert {f"{channel}:{name}" for channel in ("train", "validation") for name in metrics.FINAL[task]} <= set(found)


# Iteration metrics a test can compute from a saved model's probabilities (the boosting libraries' names).
LOGLOSS = {"logloss", "mlogloss", "binary_logloss", "multi_logloss"}
ERROR = {"error", "merror", "binary_error", "multi_error"}


def write_noisy_channels(opt_ml) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation channels whose validation loss turns up early; returns validation's labels and rows.
    In the sample's columns: the sample job's hyperparameters (its early stopping) stay."""
    rng = np.random.default_rng(7)
    labels, X = classification_data(600, N_FEATURES, 3, seed=7)
    noisy = rng.random(len(labels)) < 0.35  # labels no model can learn: validation loss turns up early
    labels = np.where(noisy, rng.permutation(labels), labels)
    write_channel(opt_ml, "training", labels[:450], X[:450], header=SAMPLE_HEADER)
    write_channel(opt_ml, "validation", labels[450:], X[450:], header=SAMPLE_HEADER)
    return labels[450:], X[450:]


def check_final_values_are_the_saved_models(log: str, final: dict[str, float], model_dir, labels, X) -> None:
    """Each metric's final value (as a tuning job reads it) against the saved model's own score on (labels, X)."""
    model = load_model(model_dir)
    truth = labels.astype(str)
    saved = {"validation:accuracy": float(np.mean(model.predict(model_input(X, model)).astype(str) == truth))}
    if model.has_probabilities:  # the library's loss and error, from the probabilities (boosting logs them)
        probabilities = model.predict_proba(model_input(X, model))
        index = {str(label): i for i, label in enumerate(model.classes)}
        p_truth = probabilities[np.arange(len(truth)), [index[t] for t in truth]]
        logloss = float(-np.mean(np.log(np.clip(p_truth, 1e-15, 1))))
        error = float(np.mean(model.classes[probabilities.argmax(axis=1)] != truth))
        saved |= {f"validation:{name}": logloss for name in LOGLOSS} | {f"validation:{name}": error for name in ERROR}
    compared = []
    for name, value in final.items():
        if name in saved:
            assert value == pytest.approx(saved[name], rel=1e-4, abs=1e-6), name
            compared.append(name)
    assert "validation:accuracy" in compared
    rounds = [int(r) for r in re.findall(r"^\[(\d+)\] validation:", log, re.M)]
    if rounds:  # a boosting model.py: it printed rounds past the one it kept, and a library metric was checked
        assert len(compared) > 1, compared
        assert rounds[-1] < max(rounds), "training never went past the kept round: the case is not exercised"


@numbers_only
def test_each_metrics_last_value_in_the_log_is_the_saved_models(opt_ml):
    """A tuning job ranks a training job by the last value each MetricDefinitions regex finds in its
    log. With early stopping, rounds after the kept one are printed too: the last value of every
    metric must still be the saved model's, measured here from that model on the validation channel.
    (tests/test_tuning.py runs the same check on the container's log.)"""
    labels, X = write_noisy_channels(opt_ml)
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    final = {}
    for definition in metrics.definitions("classification", getattr(framework, "ITERATION_METRICS", ())):
        values = [float(v) for v in re.findall(definition["Regex"], result.stdout)]
        if values:
            final[definition["Name"]] = values[-1]
    check_final_values_are_the_saved_models(result.stdout, final, opt_ml / "model", labels, X)


@pytest.mark.deep
def test_empty_hyperparameters_give_the_defaults(opt_ml):
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    assert run_train(opt_ml).returncode == 0


@pytest.mark.deep
def test_sagemaker_owned_hyperparameters_are_tolerated(opt_ml):
    hps = {"_tuning_objective_metric": "validation:accuracy", "sagemaker_program": "x", "sagemaker_region": '"eu"'}
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    assert run_train(opt_ml).returncode == 0


@pytest.mark.deep
def test_an_unknown_hyperparameter_fails_naming_it(opt_ml):
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"no_such_knob": "3"}))
    assert_failed(run_train(opt_ml), opt_ml, "no_such_knob")


@pytest.mark.deep
def test_a_bad_hyperparameter_value_fails_naming_the_key(opt_ml):
    name, spec = next((n, s) for n, s in framework_schema().items() if s["type"] in ("int", "float"))
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({name: "lots"}))
    assert_failed(run_train(opt_ml), opt_ml, name, "lots")


@pytest.mark.deep
def test_the_failure_reason_is_cut_to_1024_characters(opt_ml):
    hps = {f"unknown_{i}_{'x' * 200}": "1" for i in range(20)}
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    reason = assert_failed(run_train(opt_ml), opt_ml, "unknown_0")
    assert len(reason) == 1024


@pytest.mark.deep
def test_reads_every_csv_file_and_ignores_other_files(opt_ml):
    labels, X = classification_data(300, N_FEATURES, 3)  # the sample's columns: its hyperparameters stay
    write_channel(opt_ml, "training", labels, X, files=3, header=SAMPLE_HEADER)
    write_channel(opt_ml, "validation", labels[:60], X[:60], header=SAMPLE_HEADER)
    folder = opt_ml / "input" / "data" / "training"
    (folder / "README.txt").write_text("not data")
    (folder / ".hidden.csv").write_text("garbage,,,\n")
    (folder / "_SUCCESS").write_text("")
    (folder / "nested").mkdir()
    (folder / "nested" / "more.csv").write_text((folder / "part-0.csv").read_text())
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert f"training: 400 rows, {written_width(N_FEATURES)}, 4 file(s)" in result.stdout


@pytest.mark.deep
@pytest.mark.parametrize("text_labels", [True, False])
def test_classification_with_text_or_numeric_labels_and_unseen_data(opt_ml, text_labels):
    labels, X = classification_data(900, 12, 4, seed=1, text_labels=text_labels)
    write_channel(opt_ml, "training", labels[:600], X[:600])
    write_channel(opt_ml, "validation", labels[600:700], X[600:700])
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    assert run_train(opt_ml).returncode == 0
    model = load_model(opt_ml / "model")
    predicted = model.predict(model_input(X[700:], model))
    assert np.mean(predicted == labels[700:].astype(str)) >= 0.9
    if not hasattr(framework, "predict_proba"):  # optional in model.py: without it, none are promised
        return
    probabilities = model.predict_proba(model_input(X[700:], model))  # a classifier's model.py that has it must deliver
    assert probabilities.shape == (200, 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.array_equal(model.classes[probabilities.argmax(axis=1)], predicted)


@pytest.mark.deep
def test_regression_on_continuous_labels(opt_ml):
    y, X = regression_data(2000, 5, seed=2)
    write_channel(opt_ml, "training", y[:1500], X[:1500])
    write_channel(opt_ml, "validation", y[1500:1700], X[1500:1700])
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert "task: regression" in result.stdout
    assert re.search(r"^validation:rmse=", result.stdout, re.M)
    model = load_model(opt_ml / "model")
    predicted = model.predict(model_input(X[1700:], model))
    r2 = 1 - np.mean((predicted - y[1700:]) ** 2) / np.var(y[1700:])
    assert r2 > 0  # it learns something (how much is tests/test_model.py's to say, of the sample data)


@pytest.mark.deep
def test_trains_without_a_validation_channel(opt_ml):
    import shutil

    shutil.rmtree(opt_ml / "input" / "data" / "validation")
    config = opt_ml / "input" / "config" / "inputdataconfig.json"
    config.write_text(json.dumps({"training": json.loads(config.read_text())["training"]}))
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert "validation:" not in result.stdout


@pytest.mark.deep
def test_missing_training_channel(opt_ml):
    import shutil

    shutil.rmtree(opt_ml / "input" / "data" / "training")
    assert_failed(run_train(opt_ml), opt_ml, "training")


@pytest.mark.deep
def test_channel_without_csv_files(opt_ml):
    folder = opt_ml / "input" / "data" / "training"
    for path in folder.iterdir():
        path.unlink()
    (folder / "data.parquet").write_bytes(b"PAR1")
    assert_failed(run_train(opt_ml), opt_ml, "no non-empty .csv files", "data.parquet")


@pytest.mark.deep
@pytest.mark.parametrize(
    "content, words",
    [
        ("a,1,2\nb,3,x\n", ["'x'"]),
        ("a,1,2\nb,3\n", ["column"]),
        ("a\nb\n", ["single column"]),
        (",1,2\nb,3,4\n", ["empty label"]),
        ("a,1,2\nb,inf,4\n", ["row 2", "infinite"]),
    ],
)
@numbers_only
def test_unusable_data_fails_with_a_reason(opt_ml, content, words):
    only_file(opt_ml, "training", "data.csv", content)
    assert_failed(run_train(opt_ml), opt_ml, "data.csv", *words)


@pytest.mark.deep
@numbers_only
def test_empty_feature_cells_are_missing_values(opt_ml, takes_missing_values):
    """Read as NaN; the model then takes them, or fails the job with its reason, as it predicts (the sample's)."""
    labels, X = classification_data(200, N_FEATURES, 3)  # the sample's columns: its hyperparameters stay
    write_channel(opt_ml, "training", labels, X, header=SAMPLE_HEADER)
    write_channel(opt_ml, "validation", labels[:50], X[:50], header=SAMPLE_HEADER)
    folder = opt_ml / "input" / "data" / "training"
    first = ["", " 1.5 ", *[""] * (N_FEATURES - 2)][:N_FEATURES]  # blank, padded, and trailing blank cells
    second = [" 2.0 ", *[""] * (N_FEATURES - 1)]
    with open(folder / "part-0.csv", "a") as f:
        f.write("class a," + ",".join(first) + "\n\nclass b," + ",".join(second) + "\n")
    result = run_train(opt_ml)
    assert "training: 202 rows" in result.stdout, result.stdout + result.stderr
    if takes_missing_values:
        assert result.returncode == 0, result.stderr
    else:
        assert_failed(result, opt_ml)


@pytest.mark.deep
@numbers_only  # text always has a header: the sample data's names reach model.json (test_trains_the_sample_data)
def test_a_header_names_the_features(opt_ml):
    labels, X = classification_data(300, 3, 2)
    write_channel(opt_ml, "training", labels[:250], X[:250], files=2, header="label,height,width,depth")
    write_channel(opt_ml, "validation", labels[250:], X[250:], header="label,height,width,depth")
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert "training: 250 rows, 3 features, 2 file(s), header height,width,depth" in result.stdout
    meta = json.loads((opt_ml / "model" / "model.json").read_text())
    assert meta["feature_names"] == ["height", "width", "depth"]


@pytest.mark.deep
@pytest.mark.parametrize(
    "training, validation, words",
    [
        ("label,a,b,c", "label,a,b,x", ["different headers", "a,b,c", "a,b,x"]),
        ("label,a,b,c", None, ["different headers", "(none)"]),
        ("label,a,a,c", "label,a,a,c", ["distinct"]),
    ],
)
@numbers_only
def test_headers_must_agree_and_name_each_feature_once(opt_ml, training, validation, words):
    labels, X = classification_data(100, 3, 2)
    write_channel(opt_ml, "training", labels, X, header=training)
    write_channel(opt_ml, "validation", labels[:20], X[:20], header=validation)
    assert_failed(run_train(opt_ml), opt_ml, *words)


@pytest.mark.deep
@numbers_only
def test_files_of_one_channel_need_the_same_header(opt_ml):
    labels, X = classification_data(100, 3, 2)
    write_channel(opt_ml, "training", labels, X, files=2, header="label,a,b,c")
    folder = opt_ml / "input" / "data" / "training"
    (folder / "part-1.csv").write_text((folder / "part-1.csv").read_text().replace("label,a,b,c", "label,a,b,z"))
    assert_failed(run_train(opt_ml), opt_ml, "part-1.csv", "same header")


@pytest.mark.deep
def test_too_few_rows(opt_ml):
    for channel in ("training", "validation"):
        header = "label," + ",".join(f"text_{j + 1}" for j in range(N_FEATURES)) + "\n" if TEXT else ""
        header = SAMPLE_HEADER + "\n" if TABLE else header
        only_file(opt_ml, channel, "data.csv", header + "a," + SAMPLE_ROW.decode())
    assert_failed(run_train(opt_ml), opt_ml, "1 row(s)")


@pytest.mark.deep
def test_an_unreadable_file_fails_naming_it(opt_ml):
    (opt_ml / "input" / "data" / "training" / "broken.csv").write_bytes(b"\xff\xfe\x00\x81garbage,\x9c\n" * 10)
    assert_failed(run_train(opt_ml), opt_ml, "broken.csv")


@pytest.mark.deep
def test_a_single_class_fails(opt_ml):
    labels, X = classification_data(50, 3, 1)
    write_channel(opt_ml, "training", labels, X)
    write_channel(opt_ml, "validation", labels, X)
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    assert_failed(run_train(opt_ml), opt_ml, "at least two classes")


@pytest.mark.deep
def test_validation_labels_must_occur_in_training(opt_ml):
    labels, X = classification_data(100, 4, 3)
    write_channel(opt_ml, "training", labels, X)
    write_channel(opt_ml, "validation", np.array(["tulip"] + list(labels[1:10])), X[:10])
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    assert_failed(run_train(opt_ml), opt_ml, "tulip")


@pytest.mark.deep
def test_pipe_mode_fails_fast(opt_ml):
    config = opt_ml / "input" / "config" / "inputdataconfig.json"
    channels = json.loads(config.read_text())
    channels["training"]["TrainingInputMode"] = "Pipe"
    config.write_text(json.dumps(channels))
    assert_failed(run_train(opt_ml), opt_ml, "Pipe", "File")


@pytest.mark.deep
def test_invalid_config_json(opt_ml):
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{not json")
    assert_failed(run_train(opt_ml), opt_ml, "hyperparameters.json")


@pytest.mark.deep
def test_an_old_failure_file_is_cleared_by_a_good_run(opt_ml):
    (opt_ml / "output").mkdir(parents=True)
    (opt_ml / "output" / "failure").write_text("old")
    assert run_train(opt_ml).returncode == 0
    assert not (opt_ml / "output" / "failure").exists()


@pytest.mark.deep
def test_sigterm_stops_training_promptly_without_a_model(opt_ml):
    y, X = regression_data(300_000, 30, seed=3)
    write_channel(opt_ml, "training", y, X, files=2)
    write_channel(opt_ml, "validation", y[:20_000], X[:20_000])
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text("{}")
    process = subprocess.Popen(
        [str(CONTRACT / "train")], env=program_env(opt_ml), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Stopped while numpy's C reader parses the 100 MB of CSV: native code, whatever model.py fits.
    for line in process.stdout:
        if line.startswith("hyperparameters:"):
            break
    time.sleep(0.2)
    assert process.poll() is None, f"training ended before it could be stopped:\n{process.stderr.read()[-3000:]}"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    assert time.monotonic() - started < 10
    reason = (opt_ml / "output" / "failure").read_text()
    assert "SIGTERM" in reason
    assert model_files(opt_ml) == []


def framework_schema():
    from contract import hyperparameters

    return hyperparameters.load_schema()


@pytest.mark.deep
@pytest.mark.parametrize("leader_succeeds", [True, False])
def test_in_a_job_of_several_hosts_the_others_wait_for_the_one_that_trains(monkeypatch, leader_succeeds):
    """Frameworks that train on one host: the other hosts end with the leader, and as it ends."""
    monkeypatch.setattr(cluster, "HOLD_PORT", free_port())
    hosts, outcome = ("localhost", "follower"), {}

    def follower():
        try:
            with cluster.one_host_trains(cluster.Cluster(hosts, "follower"), timeout=10) as trains:
                outcome["trains"] = trains
        except cluster.PeerError as exc:
            outcome["error"] = str(exc)

    waiting = threading.Thread(target=follower)
    with pytest.raises(RuntimeError) if not leader_succeeds else contextlib.nullcontext():
        with cluster.one_host_trains(cluster.Cluster(hosts, "localhost"), timeout=10) as trains:
            assert trains
            waiting.start()
            time.sleep(0.5)
            assert waiting.is_alive()  # still waiting while the leader trains
            if not leader_succeeds:
                raise RuntimeError("training failed")
    waiting.join(10)
    if leader_succeeds:
        assert outcome == {"trains": False}
    else:
        assert "stopped before writing the model" in outcome["error"]


@pytest.mark.deep
def test_a_model_that_fits_in_one_go_says_it_writes_no_checkpoints(opt_ml, tmp_path):
    """A checkpoint folder (CheckpointConfig, e.g. for managed spot training) and a model.py without
    checkpoints: the job says that an interrupted job trains from the start, and writes nothing there."""
    program = program_copy(tmp_path)
    (opt_ml / "checkpoints").mkdir()
    result = subprocess.run([str(entry(program, "train"))], env=program_env(opt_ml), capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing is saved there, and an interrupted job trains from the start" in result.stdout
    assert list((opt_ml / "checkpoints").iterdir()) == []
