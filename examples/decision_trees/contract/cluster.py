"""The hosts of a training job, and what each one trains on.

SageMaker starts the same image on hosts algo-1 ... algo-N and lists them in
resourceconfig.json. A framework that trains one model across hosts has a `join(cluster)`
(contract/multihost.py picks it), a context in which the hosts talk to each other as a Group
(contract/interface.py); the shared code then agrees on the classes through `union` and gives
each host its share of the data. Every other framework trains on one host and this module is a
formality.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import contextlib
import os
import socket
import time
from dataclasses import dataclass

# How long to wait for every host to answer before the job fails (SageMaker starts the
# hosts of a job within seconds of each other; a host that never comes must not hang it).
PEER_TIMEOUT = int(os.environ.get("PEER_TIMEOUT_SECONDS", "300"))
# The settings this module reads, for docs/environment.md: name -> (default, effect).
ENVIRONMENT = {
    "PEER_TIMEOUT_SECONDS": ("300", "seconds a training host waits for the job's other hosts before it fails"),
}
HOLD_PORT = 9098  # where the leader tells the other hosts that the model is written


class PeerError(RuntimeError):
    """Another host of the job is missing or failed."""


@dataclass(frozen=True)
class Cluster:
    hosts: tuple[str, ...]
    current: str

    @classmethod
    def from_resourceconfig(cls, config: dict) -> "Cluster":
        hosts = tuple(sorted(config.get("hosts") or ["algo-1"]))
        return cls(hosts, config.get("current_host") or hosts[0])

    @property
    def rank(self) -> int:
        return self.hosts.index(self.current)

    @property
    def world(self) -> int:
        return len(self.hosts)

    @property
    def leader(self) -> bool:
        """The one host that writes the model, so the hosts' model folders never clash."""
        return self.rank == 0


class SingleHost:
    """What a group of one host answers (interface.Group); a distributed framework's group answers the same."""

    rank, world = 0, 1

    def union(self, values: list[str]) -> list[str]:
        """Every host's values together (sorted, without repeats)."""
        return sorted(set(values))

    def every(self, flag: bool) -> bool:
        """True if the flag is true on every host."""
        return flag


@contextlib.contextmanager
def single_host():
    yield SingleHost()


def share(n_items: int, rank: int, world: int) -> slice:
    """Which of n items (files or rows) host `rank` of `world` takes: every world-th one."""
    return slice(rank, n_items, world)


class ModelHold:
    """algo-1's word to the job's other hosts that the model is written. They wait for it, so that no
    host ends the job before the model exists: the SDK's local mode stops every container once one
    exits, and algo-1 stopped before its model is committed fails the job. The waiting hosts'
    connections queue in algo-1's listen backlog until then; if algo-1 fails, its socket closes
    and they fail too. Made on every host before the hosts train, so algo-1 listens first."""

    def __init__(self, cluster: Cluster, timeout: float = PEER_TIMEOUT):
        self.cluster, self.timeout = cluster, timeout
        self.server = socket.create_server(("", HOLD_PORT), backlog=cluster.world) if cluster.leader else None

    def release(self) -> None:
        """algo-1, with its model written: the word to every other host."""
        with self.server as server:
            server.settimeout(self.timeout)
            for _ in range(self.cluster.world - 1):
                try:
                    connection, _address = server.accept()
                except OSError:
                    print(f"{self.cluster.current}: not every other host asked for the model within "
                          f"{self.timeout} s", flush=True)  # fmt: skip
                    return
                with connection:
                    connection.sendall(b"1")

    def wait(self, what: str = "write the model") -> None:
        """Another host: until algo-1 has written the model (PeerError if it stops first)."""
        leader = self.cluster.hosts[0]
        print(f"{self.cluster.current}: waiting for {leader} to {what}", flush=True)
        connection = reach(leader, lambda: socket.create_connection((leader, HOLD_PORT), timeout=5), self.timeout)
        with connection:
            connection.settimeout(None)  # training takes as long as it takes
            try:
                done = connection.recv(1) == b"1"
            except OSError:
                done = False
        if not done:
            raise PeerError(f"host {leader} stopped before writing the model; its log says why")

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@contextlib.contextmanager
def one_host_trains(cluster: Cluster, timeout: float = PEER_TIMEOUT):
    """For a framework that trains on one host, in a job of several: yields whether this host trains.

    The leader trains; the other hosts wait until it has written the model (ModelHold), and the job
    succeeds or fails with the leader.
    """
    hold = ModelHold(cluster, timeout)
    if not cluster.leader:
        hold.wait("train and write the model")
        yield False
        return
    try:
        yield True
    except BaseException:
        hold.close()
        raise
    hold.release()


def reach(host: str, attempt, timeout: float, deadline: float | None = None):
    """attempt()'s result, retried while it raises OSError: another host's name resolves, and its port
    answers, only once its container is up, and a job's hosts start in any order. PeerError at the
    deadline (default: timeout seconds from now), naming the host."""
    deadline = time.monotonic() + timeout if deadline is None else deadline
    while True:
        try:
            return attempt()
        except OSError as exc:
            if time.monotonic() > deadline:
                raise PeerError(
                    f"host {host} did not appear within {timeout:g} s ({exc}); a multi-host job needs every host"
                ) from None
            time.sleep(0.5)
