"""Training on two instances, for real: SDK local mode with instance_count=2 starts two containers
(algo-1, algo-2) on one compose network, exactly as SageMaker starts a multi-instance job.

A framework that trains across hosts (contract/multihost.py) must have both hosts take
part, each with its share of the data, and give a model as good as one trained on all the data
on one host. The others train on algo-1 while algo-2 waits for it (local mode stops every
container once one exits): the job must still succeed with one model written.
"""

import re
import sys
import tarfile
import time
import uuid

import numpy as np
import pytest
from conftest import PROJECT, is_complete_model, load_model, model_input, run_train, write_channel

import model as framework
from contract import model_artifact, multihost

# How model.py's model trains across hosts (the contract's choice): None, on one host.
JOIN = multihost.join_for(framework)

pytestmark = pytest.mark.deep  # training across hosts (make test-all)


def accuracy(model_dir, labels, X) -> float:
    model = load_model(model_dir)
    return float(np.mean(model.predict(model_input(X, model)) == labels))


def noisy_task(n: int = 6000):
    """A task no model gets perfect (noisy, non-linear), so "as good as" means something."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(n, 6))
    score = X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(0, 0.7, size=n)
    return np.array(["low", "mid", "high"])[np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))], X


def host_lines(output: str, pattern: str) -> dict[str, list[str]]:
    """Each host's log lines that match pattern (local mode prefixes them "<id>-algo-N-<id> | ")."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"(?:\x1b\[[0-9;]*m)?\S*?(algo-\d+)\S*\s*\|(?:\x1b\[0m)?\s?(.*)", line)
        if match and re.search(pattern, match.group(2)):
            found.setdefault(match.group(1), []).append(match.group(2).strip())
    return found


@pytest.mark.exclusive
@pytest.mark.container
def test_two_instances(image, opt_ml, tmp_path):
    from test_lifecycle import our_containers, run_lifecycle

    labels, X = noisy_task()
    data = tmp_path / "data"
    (data / "training").mkdir(parents=True)
    for channel, rows, files in (("training", slice(0, 4000), 4), ("validation", slice(4000, 5000), 2)):
        write_channel(opt_ml, channel, labels[rows], X[rows], files=files)
        for path in (opt_ml / "input" / "data" / channel).iterdir():
            (data / channel).mkdir(exist_ok=True)
            (data / channel / path.name).write_bytes(path.read_bytes())

    name = f"two-hosts-{uuid.uuid4().hex[:8]}"
    env = {"PATH": f"{sys.executable.rsplit('/', 1)[0]}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}
    started = time.monotonic()
    result = run_lifecycle(
        "--local", "--image", image, "--workdir", str(tmp_path / "work"), "--name", name, "--data", str(data),
        "--instance-count", "2", "--train-only",
        # Both containers share this machine's cores: one thread each, or OpenMP threads fight.
        "--env", "OMP_NUM_THREADS=1", "--env", "PEER_TIMEOUT_SECONDS=120",
        env=env,
    )  # fmt: skip
    together_took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert our_containers(tmp_path / "work") == []
    artifact = re.search(r"model in file://(\S+)", result.stdout).group(1)
    model_dir = tmp_path / "model"
    with tarfile.open(artifact) as archive:
        archive.extractall(model_dir, filter="data")
    assert is_complete_model(sorted(p.name for p in model_dir.iterdir()))

    if JOIN is not None:  # one model, trained together
        assert re.search(r"joined as rank 0 of 2", output) and re.search(r"joined as rank 1 of 2", output), output
        assert "(share 1 of 2)" in output and "(share 2 of 2)" in output
        assert re.search(r"writes the model", output)  # the second host leaves the model to the first
        # and ends only once it is written (local mode's host names carry a suffix: algo-2-1den4)
        assert re.search(r"algo-2\S*: waiting for algo-1\S* to write the model", output), output[-8000:]
    else:
        assert "trains on one host" in output
    # As good as a model trained on all the data on one host.
    started = time.monotonic()
    single = run_train(opt_ml, OMP_NUM_THREADS="1")
    alone_took = time.monotonic() - started
    assert single.returncode == 0, single.stderr
    held_out = (labels[5000:], X[5000:])
    together, alone = accuracy(model_dir, *held_out), accuracy(opt_ml / "model", *held_out)
    trained_in = {host: lines[-1] for host, lines in host_lines(output, r"^done in ").items()}
    print(
        f"held-out accuracy: two instances {together:.4f} (the local-mode job {together_took:.1f} s; {trained_in}), "
        f"one instance {alone:.4f} (train as a host process {alone_took:.1f} s; {single.stdout.splitlines()[-1]})"
    )
    assert together >= alone - 0.02


@pytest.mark.exclusive
@pytest.mark.container
def test_a_missing_peer(image, tmp_path):
    """resourceconfig.json names a second host that never starts. Training across hosts: a bounded
    wait, then a reason. Training on one host: the first host does not wait for the second."""
    import shutil
    import subprocess

    opt_ml = tmp_path / "opt_ml"
    shutil.copytree(PROJECT / "local_test" / "test_dir" / "input", opt_ml / "input")
    (opt_ml / "input" / "config" / "resourceconfig.json").write_text(
        '{"current_host": "algo-1", "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"}'
    )
    result = subprocess.run(
        ["docker", "run", "--rm", "--hostname", "algo-1", "-e", "PEER_TIMEOUT_SECONDS=10",
         "-v", f"{opt_ml}:/opt/ml", image, "train"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if JOIN is None:
        assert result.returncode == 0, result.stderr
        assert (opt_ml / "model" / model_artifact.META).exists()
        return
    assert result.returncode != 0
    reason = (opt_ml / "output" / "failure").read_text()
    assert "algo-2" in reason and len(reason) <= 1024, reason
    assert not (opt_ml / "model" / model_artifact.META).exists()
