"""Training on two instances, for real: SDK local mode with instance_count=2 starts two containers
(algo-1, algo-2) on one compose network, exactly as SageMaker starts a multi-instance job.

A framework that trains across hosts (XGBoost, LightGBM: contract/multihost.py) must have both hosts take
part, each with its share of the data, and give a model as good as one trained on all the data
on one host. The others train on algo-1 while algo-2 waits for it (local mode stops every
container once one exits): the job must still succeed with one model written.

The whole `train` on two hosts also runs here without containers: two host processes on this
machine (the ports patched apart, as two containers would each have their own); so does
LightGBM's network, for the trees it builds and for the hosts that fail to come or leave.
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

pytestmark = pytest.mark.deep  # training across hosts (make test-all)

# How model.py's model trains across hosts (the contract's choice): None, on one host.
JOIN = multihost.join_for(framework)
across_hosts = pytest.mark.applies(JOIN is not None, reason="training across hosts (contract/multihost.py)")
# LightGBM's network, rendered only for LightGBM, and model.py training across hosts with it.
LIGHTGBM = JOIN is not None and JOIN.__module__ == "contract.lightgbm_network"
lightgbm_only = pytest.mark.applies(LIGHTGBM, reason="LightGBM's network (contract/lightgbm_network.py)")


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
    if LIGHTGBM:  # the same trees on both hosts: every iteration scores the whole validation channel alike
        assert "LightGBM's network on port" in output
        scores = host_lines(output, r"^\[\d+\] validation:")
        assert sorted(scores) == ["algo-1", "algo-2"] and len(scores["algo-1"]) > 5, output[-8000:]
        assert scores["algo-1"] == scores["algo-2"]
        assert host_lines(output, r"^validation: .*all of it, on every host").keys() == {"algo-1", "algo-2"}
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
    started = time.monotonic()
    result = subprocess.run(
        ["docker", "run", "--rm", "--hostname", "algo-1", "-e", "PEER_TIMEOUT_SECONDS=10",
         "-v", f"{opt_ml}:/opt/ml", image, "train"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    took = time.monotonic() - started
    if JOIN is None:
        assert result.returncode == 0, result.stderr
        assert (opt_ml / "model" / model_artifact.META).exists()
        return
    assert result.returncode != 0
    reason = (opt_ml / "output" / "failure").read_text()
    assert "algo-2" in reason and len(reason) <= 1024, reason
    assert not (opt_ml / "model" / model_artifact.META).exists()
    if LIGHTGBM:
        assert reason == "host(s) algo-2 did not join within 10 s; a multi-host job needs every host", reason
        assert took < 60, f"the job took {took:.0f} s to give up on a host with PEER_TIMEOUT_SECONDS=10"


# The framework's network between host processes. The hosts are "localhost" (the leader: its name
# must resolve) and "worker"; each process gets its own ports and /opt/ml, as a container would.
TWO_HOSTS = ("localhost", "worker")
# What a host process runs: the framework's network module `net` (its ports patched in), then the test's body.
HOST_PROGRAM = """
import json, os, sys
sys.path[:0] = [os.environ["PROGRAM"], os.environ["TESTS"]]
from contract import multihost
from contract.cluster import Cluster
from contract.paths import Paths
net = sys.modules[multihost.join.__module__]
for port in ("EXCHANGE_PORT", "LISTEN_PORT", "TRACKER_PORT"):  # LightGBM's meeting point and links, XGBoost's tracker
    if hasattr(net, port):
        setattr(net, port, int(os.environ[port]))
host = Cluster.from_resourceconfig(json.loads(Paths.from_env().resourceconfig.read_text()))
"""
# model.fit on this host's half of the training rows, inside join; the trees and held-out answers printed.
FIT = """
import numpy as np
import model
from contract import hyperparameters
from contract.interface import Data, Job
from test_distributed import noisy_task
labels, X = noisy_task()
y = np.unique(labels, return_inverse=True)[1]
params = hyperparameters.parse({"tree_learner": os.environ["LEARNER"]}, hyperparameters.load_schema())
from contract.cluster import single_host
with net.join(host) if host.world > 1 else single_host() as group:  # as training.py chooses
    mine = slice(group.rank, 4000, group.world)
    trained = model.fit(params, Data(X[mine], y[mine], None), Data(X[4000:5000], y[4000:5000], None),
                        Job("classification", 3, 1))
from contract import model_artifact
model_artifact.committed.set()  # what the leader's model write does: the other host may end now
text = trained.booster.model_to_string()
trees = [line for line in text[text.index("Tree=0"):text.index("end of trees")].splitlines()
         if os.environ["LEARNER"] == "data" or not line.startswith("internal_value=")]
print(json.dumps({"trees": trees, "predictions": model.predict_proba(trained, X[5000:]).tolist(),
                  "accuracy": float(np.mean(model.predict(trained, X[5000:]) == y[5000:]))}))
"""


def host_opt_ml(tmp_path, host: str):
    """The host's /opt/ml: the sample's input the first time."""
    import shutil

    opt_ml = tmp_path / f"opt_ml-{host}"
    if not opt_ml.exists():
        shutil.copytree(PROJECT / "local_test" / "test_dir" / "input", opt_ml / "input")
    return opt_ml


def start_hosts(tmp_path, body: str, hosts=TWO_HOSTS, timeout: int = 20, **env) -> list:
    """One process per host named in hosts (None: a host that never comes), each with its own
    /opt/ml, running HOST_PROGRAM then body; their Popens."""
    import json
    import subprocess

    from conftest import PROGRAM, free_port, program_env

    names = [host or f"missing-{rank}" for rank, host in enumerate(hosts)]  # sorted as hosts are
    exchange, processes = free_port(), []
    for rank, host in enumerate(hosts):
        if host is None:
            continue
        opt_ml = host_opt_ml(tmp_path, host)
        resources = {"current_host": names[rank], "hosts": names}
        (opt_ml / "input" / "config" / "resourceconfig.json").write_text(json.dumps(resources))
        ports = dict(EXCHANGE_PORT=exchange, LISTEN_PORT=free_port(), TRACKER_PORT=exchange)
        settings = dict(PROGRAM=PROGRAM, TESTS=PROJECT / "tests", **ports)
        processes.append(subprocess.Popen(
            [sys.executable, "-c", HOST_PROGRAM + body],
            env=program_env(opt_ml, PEER_TIMEOUT_SECONDS=timeout, OMP_NUM_THREADS=1, **settings, **env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    return processes


def finish(processes, timeout: float = 120) -> list[tuple[int, str, str]]:
    """Each process's exit code, stdout and stderr, once all have ended."""
    outcomes = [process.communicate(timeout=timeout) for process in processes]
    return [(process.returncode, out, err) for process, (out, err) in zip(processes, outcomes, strict=True)]


@lightgbm_only
@pytest.mark.parametrize("learner", ["data", "voting"])
def test_lightgbm_hosts_build_the_same_trees(tmp_path, learner):
    """Both hosts hold the same model (for data, the same model file; voting keeps each host's own
    sums in the root's internal_value, which predictions never read), about as good as one fitted
    on all the rows on one host: the bin boundaries and every split were agreed across hosts."""
    import json

    results = finish(start_hosts(tmp_path, FIT, LEARNER=learner))
    for code, _out, err in results:
        assert code == 0, err[-3000:]
    first, second = (json.loads(out.splitlines()[-1]) for _, out, _ in results)
    assert sum(line.startswith("Tree=") for line in first["trees"]) > 3
    assert first["trees"] == second["trees"]
    assert first["predictions"] == second["predictions"]
    [(code, out, err)] = finish(start_hosts(tmp_path, FIT, hosts=("localhost",), LEARNER=learner))
    assert code == 0, err[-3000:]
    alone = json.loads(out.splitlines()[-1])["accuracy"]
    print(f"held-out accuracy ({learner}): two hosts {first['accuracy']:.4f}, one host {alone:.4f}")
    assert first["accuracy"] >= alone - 0.02


@across_hosts
def test_train_on_two_hosts(tmp_path):
    """The whole `train` on two host processes, joined by the contract (model.py imports nothing of
    the framework's network for it): each reads its share of training (LightGBM: all of validation),
    both score every iteration alike, algo-1 alone writes the model, and the other host ends only
    once it is written."""
    labels, X = noisy_task(3000)
    for host in TWO_HOSTS:
        write_channel(host_opt_ml(tmp_path, host), "training", labels[:2000], X[:2000], files=4)
        write_channel(host_opt_ml(tmp_path, host), "validation", labels[2000:], X[2000:], files=2)
    train = "from contract import training\nsys.exit(training.main())\n"
    results = dict(zip(TWO_HOSTS, finish(start_hosts(tmp_path, train)), strict=True))
    for host, (code, out, err) in results.items():
        assert code == 0, f"{host}:\n{out[-3000:]}\n{err[-3000:]}"
    leader, worker = (results[host][1] for host in TWO_HOSTS)
    assert "joined as rank 0 of 2" in leader and "joined as rank 1 of 2" in worker
    assert "(share 1 of 2)" in leader and "(share 2 of 2)" in worker
    if LIGHTGBM:
        assert "validation: 1000 rows" in worker and "(all of it, on every host)" in worker
    assert "waiting for localhost to write the model" in worker
    scores = [[line for line in out.splitlines() if re.match(r"\[\d+\] validation:", line)] for out in (leader, worker)]
    assert len(scores[0]) > 5 and scores[0] == scores[1]
    assert is_complete_model(sorted(p.name for p in (tmp_path / "opt_ml-localhost" / "model").iterdir()))
    assert not any((tmp_path / "opt_ml-worker" / "model").glob("*"))


@lightgbm_only
@pytest.mark.parametrize("absent", [0, 1])
def test_lightgbm_a_host_that_never_comes(tmp_path, absent):
    """The host that does come fails after PEER_TIMEOUT_SECONDS, naming the one that did not (the
    leader waits for it to join; another host waits for the leader's name to resolve)."""
    hosts = tuple(None if rank == absent else host for rank, host in enumerate(TWO_HOSTS))
    started = time.monotonic()
    [(code, _out, err)] = finish(start_hosts(tmp_path, "with net.join(host): pass\n", hosts=hosts, timeout=3))
    assert code != 0 and time.monotonic() - started < 30
    expected = "host(s) missing-1 did not join within 3 s" if absent else "host missing-0 did not appear within 3 s"
    assert f"PeerError: {expected}" in err, err[-3000:]


@lightgbm_only
@pytest.mark.parametrize("when", ["agreeing", "training"])
def test_lightgbm_a_host_that_leaves(tmp_path, when):
    """A host that ends while the others wait for it (agreeing on the data, or inside LightGBM's
    training) fails the others at once, with a reason that names it."""
    body = (
        "import threading\n"
        "with net.join(host) as group:\n"
        "    group.union(['a'])\n"
        "    if group.rank == 1 and os.environ['WHEN'] == 'agreeing':\n"
        "        os._exit(3)\n"
        "    if group.rank == 1:\n"
        "        threading.Timer(1.0, os._exit, [3]).start()  # ends in the middle of training\n"
        "    import numpy as np, model\n"
        "    from contract import hyperparameters\n"
        "    from contract.interface import Data, Job\n"
        "    group.union(['b'])\n"
        "    X = np.random.default_rng(group.rank).normal(size=(200000, 20))\n"
        "    params = hyperparameters.parse({'num_iterations': '100000', 'early_stopping_rounds': '0'},"
        " hyperparameters.load_schema())\n"
        "    model.fit(params, Data(X, (X[:, 0] > 0).astype(int), None), None, Job('classification', 2, 1))\n"
    )
    started = time.monotonic()
    (leader_code, _out, leader_err), (worker_code, _, _) = finish(start_hosts(tmp_path, body, WHEN=when))
    assert worker_code == 3 and leader_code != 0 and time.monotonic() - started < 60
    if when == "agreeing":
        assert "PeerError: host worker stopped before the hosts agreed on the data" in leader_err, leader_err[-3000:]
    else:  # LightGBM's own error for a reset connection, or the watch's for one it keeps waiting on
        assert re.search(r"(PeerError: the hosts stopped training together: |host )worker left", leader_err), (
            leader_err[-3000:]
        )


@lightgbm_only
@pytest.mark.parametrize("learner", ["feature", "serial"])
def test_lightgbm_refuses_learners_that_need_every_row(tmp_path, learner):
    for code, _out, err in finish(start_hosts(tmp_path, FIT, LEARNER=learner)):
        assert code != 0
        assert f"hyperparameter tree_learner={learner} cannot train across hosts" in err, err[-3000:]


@lightgbm_only
def test_lightgbm_refuses_a_sharded_validation_channel(tmp_path):
    """Each host would score only its own part of it, and stop early at its own iteration."""
    import json

    config = host_opt_ml(tmp_path, "localhost") / "input" / "config" / "inputdataconfig.json"
    channels = json.loads(config.read_text())
    channels["validation"]["S3DistributionType"] = "ShardedByS3Key"
    config.write_text(json.dumps(channels))
    [(code, _out, err)] = finish(start_hosts(tmp_path, "with net.join(host): pass\n", hosts=("localhost", None)))
    assert code != 0
    assert "DataError: the validation channel is ShardedByS3Key" in err and "make it FullyReplicated" in err, err
