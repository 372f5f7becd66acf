"""LightGBM's network (contract/lightgbm_network.py) without containers: two host processes on this
machine (the ports patched apart, as two containers would each have their own), for the trees they
build and for the hosts that fail to come or leave. test_distributed.py runs two containers.
"""

import re
import sys
import time

import pytest
from conftest import PROJECT, is_complete_model, write_channel
from test_distributed import noisy_task

pytestmark = pytest.mark.deep  # training across hosts (make test-all)


# LightGBM's network between host processes. The hosts are "localhost" (the leader: its name must
# resolve) and "worker"; each process gets its own LightGBM port and /opt/ml, as a container would.
TWO_HOSTS = ("localhost", "worker")
# What a host process runs: join (its ports patched in), then the test's body.
HOST_PROGRAM = """
import json, os, sys
sys.path[:0] = [os.environ["PROGRAM"], os.environ["PROJECT"], os.environ["TESTS"]]
from contract import lightgbm_network as net
from contract.cluster import Cluster
from contract.paths import Paths
net.EXCHANGE_PORT, net.LISTEN_PORT = int(os.environ["EXCHANGE_PORT"]), int(os.environ["LISTEN_PORT"])
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
with net.join(host) if host.world > 1 else single_host() as group:  # as the contract chooses (multihost.py)
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
        settings = dict(PROGRAM=PROGRAM, PROJECT=PROJECT, TESTS=PROJECT / "tests", EXCHANGE_PORT=exchange,
                        LISTEN_PORT=free_port())
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


def test_lightgbm_train_on_two_hosts(tmp_path):
    """The whole `train` on two host processes: each reads its share of training and all of
    validation, both score every iteration alike, algo-1 alone writes the model, and the other
    host ends only once it is written."""
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
    assert "validation: 1000 rows" in worker and "(all of it, on every host)" in worker
    assert "waiting for localhost to write the model" in worker
    scores = [[line for line in out.splitlines() if re.match(r"\[\d+\] validation:", line)] for out in (leader, worker)]
    assert len(scores[0]) > 5 and scores[0] == scores[1]
    assert is_complete_model(sorted(p.name for p in (tmp_path / "opt_ml-localhost" / "model").iterdir()))
    assert not any((tmp_path / "opt_ml-worker" / "model").glob("*"))


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


@pytest.mark.parametrize("learner", ["feature", "serial"])
def test_lightgbm_refuses_learners_that_need_every_row(tmp_path, learner):
    for code, _out, err in finish(start_hosts(tmp_path, FIT, LEARNER=learner)):
        assert code != 0
        assert f"hyperparameter tree_learner={learner} cannot train across hosts" in err, err[-3000:]


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
