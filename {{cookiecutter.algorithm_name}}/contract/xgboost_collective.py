"""XGBoost across the hosts of a training job: XGBoost's own collective (rabit).

The contract joins the hosts with `join` (contract/multihost.py), so every host trains one
model together; rendered only for XGBoost.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import atexit
import contextlib
import socket
import threading
from dataclasses import dataclass

import numpy as np
import xgboost
from xgboost.tracker import RabitTracker

from contract import model_artifact
from contract.cluster import PEER_TIMEOUT, ModelHold, reach

# Multi-host training: XGBoost's own collective (rabit). The first host runs the tracker on
# this port; every host joins with its share of the data and all build the same trees.
TRACKER_PORT = 9099


@contextlib.contextmanager
def join(cluster):
    """The context in which this host trains one model together with the job's other hosts."""
    leader_address = reach(cluster.hosts[0], lambda: socket.gethostbyname(cluster.hosts[0]), PEER_TIMEOUT)
    hold = ModelHold(cluster)  # after training, the other hosts wait for algo-1's model
    tracker = None
    print(f"{cluster.current}: joining {cluster.world} hosts (tracker {cluster.hosts[0]}:{TRACKER_PORT})", flush=True)
    try:
        if cluster.leader:
            tracker = RabitTracker(
                n_workers=cluster.world, host_ip=leader_address, port=TRACKER_PORT, sortby="task", timeout=PEER_TIMEOUT
            )
            tracker.start()
        with xgboost.collective.CommunicatorContext(
            dmlc_communicator="rabit",
            dmlc_tracker_uri=leader_address,
            dmlc_tracker_port=TRACKER_PORT,
            dmlc_task_id=str(cluster.rank),
            dmlc_timeout=PEER_TIMEOUT,
        ):
            rank, world = xgboost.collective.get_rank(), xgboost.collective.get_world_size()
            print(f"{cluster.current}: joined as rank {rank} of {world}", flush=True)
            yield Group(rank, world)
        if tracker is not None:
            tracker.wait_for(PEER_TIMEOUT)
    except xgboost.core.XGBoostError as exc:
        hold.close()
        raise RuntimeError(
            f"hosts {', '.join(cluster.hosts)} could not train together ({_reason(exc)}); check that every "
            f"host started within PEER_TIMEOUT_SECONDS={PEER_TIMEOUT} and can reach {cluster.hosts[0]}:{TRACKER_PORT}"
        ) from exc
    except BaseException:
        hold.close()
        raise
    finally:
        if tracker is not None:
            with contextlib.suppress(xgboost.core.XGBoostError):  # already reported above
                tracker.free()
    if cluster.leader:
        release_when_written(hold, model_artifact.committed)
    else:
        hold.wait()
        model_artifact.committed.set()  # the job's model is in place: a SIGTERM from now on ends this host with 0


def release_when_written(hold: ModelHold, written: threading.Event) -> None:
    """algo-1, which writes the model after the hosts are done together: the word goes out when
    `written` is set; a process ending just then still sends it."""
    telling = threading.Thread(target=lambda: written.wait() and hold.release(), name="model-written", daemon=True)
    telling.start()
    atexit.register(lambda: telling.join(10) if written.is_set() else None)


def _reason(exc: Exception) -> str:
    """The telling line of an XGBoost network error (they come with a C++ stack trace)."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip() and "[bt]" not in line]
    telling = [line for line in lines if any(w in line.lower() for w in ("error", "fail", "timeout", "refused"))]
    return (telling or lines or ["unknown error"])[-1][:300]


@dataclass
class Group:
    """The hosts training together: what the shared code asks of them (see cluster.SingleHost)."""

    rank: int
    world: int

    def union(self, values: list[str]) -> list[str]:
        together = set()
        for root in range(self.world):
            together |= set(xgboost.collective.broadcast(list(values) if root == self.rank else None, root))
        return sorted(together)

    def every(self, flag: bool) -> bool:
        votes = np.array([1 if flag else 0], dtype=np.int32)
        return bool(xgboost.collective.allreduce(votes, xgboost.collective.Op.MIN)[0])
