"""Checkpoints (managed spot training): a job stopped mid-way goes on, in a new job, to the same model.

A model.py with CHECKPOINTS = True saves its booster in the checkpoint folder every CHECKPOINT_ROUNDS
rounds and at SIGTERM (one without says so: test_train.py).
"""

import hashlib
import json
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    CONTRACT,
    FIGURES,
    TEST_DIR,
    classification_data,
    docker,
    load_model,
    model_input,
    program_env,
    run_train,
    write_channel,
)

import model as framework
from contract import hyperparameters, interface

pytestmark = pytest.mark.deep  # checkpoints and spot training: long training runs stopped and resumed (make test-all)

RESUMABLE = interface.constant(framework, "CHECKPOINTS")
resumable = pytest.mark.applies(RESUMABLE, reason="model.py writes no checkpoints (CHECKPOINTS is not set)")
SCHEMA = hyperparameters.load_schema()
ROUNDS = next((key for key in ("num_round", "num_iterations") if key in SCHEMA), None)
# Early stopping on, and enough rounds that it decides where training ends (round ~50 to ~100 here).
HYPERPARAMETERS = {ROUNDS: 300, "early_stopping_rounds": 10} if ROUNDS else {}
KEPT = re.compile(r"early stopping: kept (\d+) of")
DATA = classification_data(24_000, 4, 3, seed=1)  # overlapping classes: validation loss flattens late


def new_job(root: Path, checkpoint_folder: bool = True, **hps) -> Path:
    """/opt/ml with the test data (20,000 rows to train on, 4,000 to validate) and a checkpoint folder."""
    shutil.copytree(TEST_DIR / "input", root / "input")
    y, X = DATA
    write_channel(root, "training", y[:20_000], X[:20_000])
    write_channel(root, "validation", y[20_000:], X[20_000:])
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps({**HYPERPARAMETERS, **hps}))
    if checkpoint_folder:
        (root / "checkpoints").mkdir()
    return root


def sigterm(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)


def stop_at(command: list[str], env: dict | None, round_: int, stop) -> tuple[int, str, int]:
    """Run a training job, stop it (stop(process)) once its log shows round_; (exit code, log, last round shown)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, last, stopped = [], 0, False
    for line in process.stdout:
        log.append(line)
        shown = re.match(r"\[(\d+)\] validation:", line)
        if shown:
            last = max(last, int(shown.group(1)))
            if last >= round_ and not stopped:
                stop(process)
                stopped = True
    return process.wait(timeout=300), "".join(log), last


def predictions(opt_ml: Path) -> np.ndarray:
    model = load_model(opt_ml / "model")
    X = model_input(DATA[1], model)
    return np.asarray(framework.predict_proba(model.estimator, X))


def manifests(opt_ml: Path) -> list[str]:
    return sorted(p.name for p in (opt_ml / "checkpoints").glob("checkpoint-*.json"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, int]:
    """The job trained in one go (with checkpoints on: they must not change what is trained), and its kept round."""
    opt_ml = new_job(tmp_path_factory.mktemp("whole") / "opt_ml")
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stdout + result.stderr
    return opt_ml, int(KEPT.search(result.stdout).group(1))


@resumable
@pytest.mark.parametrize("when", ["early", "after the best round"])
def test_a_job_stopped_by_sigterm_goes_on_in_a_new_job_to_the_same_model(uninterrupted, tmp_path, when):
    """SIGTERM at round 20, or just after the best round (so early stopping's state must carry over):
    the job saves a checkpoint at the end of that round and exits 143 with no model; a new job on
    the same folder goes on from it, prediction for prediction the model trained in one go."""
    whole, kept = uninterrupted
    opt_ml = new_job(tmp_path / "opt_ml")
    target = 20 if when == "early" else kept + 2
    code, log, last = stop_at([str(CONTRACT / "train")], program_env(opt_ml), target, sigterm)
    assert code == 143, log
    assert "SIGTERM: saving a checkpoint at the end of this round" in log
    saved = int(re.search(r"checkpoint-(\d+)\.json", manifests(opt_ml)[-1]).group(1))
    assert saved == last  # the round the log showed last is in the checkpoint: nothing lost
    reason = (opt_ml / "output" / "failure").read_text()
    assert f"after round {saved}; checkpoint checkpoint-{saved:06d}" in reason
    assert not (opt_ml / "model" / "model.json").exists()

    again = run_train(opt_ml)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"checkpoints: resuming from checkpoint-{saved:06d}.json (round {saved})" in again.stdout
    assert re.search(rf"^\[{saved + 1}\] validation:", again.stdout, re.M)  # rounds go on from the checkpoint's
    assert int(KEPT.search(again.stdout).group(1)) == kept
    assert np.array_equal(predictions(opt_ml), predictions(whole))
    FIGURES.append(
        f"checkpoints (host, SIGTERM {when}): stopped after round {saved}, resumed from round {saved}: "
        f"0 rounds lost, kept round {kept} as uninterrupted, {len(DATA[0])} predictions equal"
    )


@resumable
def test_every_n_rounds_the_newest_two_are_kept_whole(tmp_path):
    opt_ml = new_job(tmp_path / "opt_ml", early_stopping_rounds=0, **{ROUNDS: 30})
    result = run_train(opt_ml, CHECKPOINT_ROUNDS="7")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkpoints: one every 7 rounds" in result.stdout
    assert manifests(opt_ml) == ["checkpoint-000021.json", "checkpoint-000028.json"]
    for name in manifests(opt_ml):
        manifest = json.loads((opt_ml / "checkpoints" / name).read_text())
        model_file = opt_ml / "checkpoints" / manifest["file"]
        assert hashlib.sha256(model_file.read_bytes()).hexdigest() == manifest["sha256"]
        assert manifest["bytes"] == model_file.stat().st_size
    assert not [p for p in (opt_ml / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary left


@resumable
def test_truncated_foreign_and_unknown_files_are_skipped_with_a_line_each(uninterrupted, tmp_path):
    """The newest checkpoint cut short, one written for other hyperparameters, a file of another
    tool: each is named in the log and skipped; the job resumes from the newest whole one."""
    whole, _ = uninterrupted
    opt_ml = new_job(tmp_path / "opt_ml")
    code, log, _ = stop_at([str(CONTRACT / "train")], program_env(opt_ml, CHECKPOINT_ROUNDS="5"), 12, sigterm)
    assert code == 143, log
    older, newest = manifests(opt_ml)
    folder = opt_ml / "checkpoints"
    newest_file = folder / json.loads((folder / newest).read_text())["file"]
    newest_file.write_bytes(newest_file.read_bytes()[: newest_file.stat().st_size // 2])  # as if cut off mid-upload
    foreign = json.loads((folder / newest).read_text()) | {"fingerprint": "0" * 64}
    (folder / "checkpoint-000999.json").write_text(json.dumps(foreign))
    (folder / "another-tool-checkpoint.17").write_text("not ours")
    (folder / "checkpoint-001000.json").write_text('{"version": 1, "round": 10')  # truncated manifest

    again = run_train(opt_ml)
    assert again.returncode == 0, again.stdout + again.stderr
    out = again.stdout
    assert "checkpoints: another-tool-checkpoint.17 skipped: not a checkpoint this image wrote" in out
    assert "checkpoints: checkpoint-001000.json skipped: unreadable or incomplete" in out
    assert "checkpoints: checkpoint-000999.json skipped: written for other data or hyperparameters" in out
    assert f"checkpoints: {newest} skipped: its model file {newest_file.name} is truncated or changed" in out
    assert f"checkpoints: resuming from {older}" in out
    assert np.array_equal(predictions(opt_ml), predictions(whole))


@resumable
def test_another_jobs_data_is_not_resumed_from(uninterrupted, tmp_path):
    """Same hyperparameters, one training row fewer: the fingerprint differs, training starts from round 0."""
    opt_ml = new_job(tmp_path / "opt_ml")
    shutil.copytree(uninterrupted[0] / "checkpoints", opt_ml / "checkpoints", dirs_exist_ok=True)
    y, X = DATA
    write_channel(opt_ml, "training", y[1:20_000], X[1:20_000])
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resuming from" not in result.stdout
    assert result.stdout.count("skipped: written for other data or hyperparameters") == 2
    assert re.search(r"^\[1\] validation:", result.stdout, re.M)


@resumable
@pytest.mark.parametrize("value", ["0", "ten", "-5"])
def test_a_bad_checkpoint_rounds_setting_fails_naming_it(tmp_path, value):
    opt_ml = new_job(tmp_path / "opt_ml")
    result = run_train(opt_ml, CHECKPOINT_ROUNDS=value)
    assert result.returncode == 1
    assert "CHECKPOINT_ROUNDS" in (opt_ml / "output" / "failure").read_text()


@resumable
def test_without_a_checkpoint_folder_nothing_is_written(tmp_path):
    opt_ml = new_job(tmp_path / "opt_ml", checkpoint_folder=False)
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checkpoints:" not in result.stdout and not (opt_ml / "checkpoints").exists()


@resumable
def test_the_checkpoint_folder_follows_checkpoint_dir(tmp_path):
    """CheckpointConfig.LocalPath other than /opt/ml/checkpoints: the job is told with CHECKPOINT_DIR."""
    opt_ml = new_job(tmp_path / "opt_ml", checkpoint_folder=False, early_stopping_rounds=0, **{ROUNDS: 10})
    (tmp_path / "elsewhere").mkdir()
    result = run_train(opt_ml, CHECKPOINT_DIR=str(tmp_path / "elsewhere"), CHECKPOINT_ROUNDS="5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "elsewhere").glob("*.json")) == [
        "checkpoint-000005.json",
        "checkpoint-000010.json",
    ]


# ---------------------------------------------------------------- the image


@resumable
@pytest.mark.container
def test_docker_stop_mid_training_then_a_new_container_goes_on_to_the_same_model(image, uninterrupted, tmp_path):
    """As a spot interruption does: `docker stop` (SIGTERM, then SIGKILL after 120 s) in the middle
    of training; a new container on the same /opt/ml (checkpoints included) finishes the job."""
    whole, kept = uninterrupted
    opt_ml = new_job(tmp_path / "opt_ml")
    name = f"byoc-checkpoint-{uuid.uuid4().hex[:8]}"
    run = ["docker", "run", "--name", name, "-v", f"{opt_ml}:/opt/ml", image, "train"]

    def stop_container(_process) -> None:  # in the background: the log goes on until the container ends
        subprocess.Popen(["docker", "stop", "-t", "120", name], stdout=subprocess.DEVNULL)

    try:
        started = time.monotonic()
        code, log, last = stop_at(run, None, 30, stop_container)
        stopped = time.monotonic() - started
        assert code == 143, log
        saved = int(re.search(r"checkpoint-(\d+)\.json", manifests(opt_ml)[-1]).group(1))
        assert saved == last
        docker("rm", "-f", name)
        again = docker("run", "--rm", "--name", name, "-v", f"{opt_ml}:/opt/ml", image, "train", timeout=600)
    finally:
        docker("rm", "-f", name, check=False)
    assert f"checkpoints: resuming from checkpoint-{saved:06d}.json" in again.stdout
    assert int(KEPT.search(again.stdout).group(1)) == kept
    assert np.array_equal(predictions(opt_ml), predictions(whole))
    FIGURES.append(
        f"checkpoints (container): docker stop after round {last} ({stopped:.1f} s in), checkpoint of round "
        f"{saved}: {last - saved} rounds lost; the new container kept round {kept}, {len(DATA[0])} predictions "
        "equal to the uninterrupted model's"
    )
