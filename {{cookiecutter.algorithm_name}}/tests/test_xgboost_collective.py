"""XGBoost's training across hosts (contract/xgboost_collective.py): what happens once the hosts are
done together. test_distributed.py trains on two containers.
"""

import threading
import time

import pytest
from conftest import free_port

from contract import cluster
from contract.xgboost_collective import release_when_written


@pytest.mark.deep
@pytest.mark.parametrize("written", [True, False])
def test_after_training_together_the_other_hosts_end_once_the_model_is_written(monkeypatch, written):
    """algo-1 writes the model after the hosts are done together; the others wait for its word,
    or fail if it stops first."""
    monkeypatch.setattr(cluster, "HOLD_PORT", free_port())
    hosts, outcome = ("localhost", "follower"), {}
    leader = cluster.ModelHold(cluster.Cluster(hosts, "localhost"), timeout=10)

    def follower():
        try:
            cluster.ModelHold(cluster.Cluster(hosts, "follower"), timeout=10).wait()
            outcome["done"] = True
        except cluster.PeerError as exc:
            outcome["error"] = str(exc)

    waiting = threading.Thread(target=follower)
    waiting.start()
    model_written = threading.Event()
    release_when_written(leader, model_written)
    time.sleep(0.5)
    assert waiting.is_alive()  # still waiting while algo-1 writes the model
    if written:
        model_written.set()
    else:
        leader.close()  # what algo-1's process ending does to its socket
    waiting.join(10)
    assert outcome == {"done": True} if written else "stopped before writing the model" in outcome["error"]
