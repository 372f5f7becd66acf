"""LightGBM across the hosts of a training job: LightGBM's own network, data-parallel.

The contract joins the hosts with `join` (contract/multihost.py), so every host trains one
model together; model.py adds `network_params` to the booster's parameters. Rendered only for
LightGBM.

How the hosts meet: every host connects to the first one (algo-1) on EXCHANGE_PORT and says
on which port LightGBM listens there; once all have come (within PEER_TIMEOUT, or the job fails
naming the missing hosts), algo-1 sends everyone the machine list and each host starts
LightGBM's network (LGBM_NetworkInit) before any Dataset is built, so the hosts agree on the
bin boundaries and build the same trees. The same connections carry what the shared code
agrees on (classes, widths: `union`, `every`) and, at the end, algo-1's word that the model is
written: the other hosts wait for it, so that no host ends the job first (the SDK's local mode
stops every container once one exits).

LightGBM computes validation metrics on each host's own rows, so every host reads the whole
validation channel (`whole_validation`): the same trees on the same rows give every host the
same metric, and early stopping stops every host at the same iteration.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import atexit
import contextlib
import ctypes
import json
import os
import select
import socket
import struct
import threading
import time

from lightgbm.basic import _LIB, LightGBMError

from contract import model_artifact
from contract.cluster import PEER_TIMEOUT, PeerError, reach
from contract.dataset import DataError
from contract.hyperparameters import HyperparameterError
from contract.paths import Paths

LISTEN_PORT = 9100  # LightGBM's own links between the hosts (cluster.HOLD_PORT has 9098)
EXCHANGE_PORT = 9101  # on algo-1: where the hosts meet and agree on the data
# LightGBM's socket timeout, in minutes, once every host is there: a tree's histograms on a large
# share can take minutes, and a host that dies is noticed at once (its sockets close).
SOCKET_TIMEOUT_MINUTES = 120
WATCH_GRACE = 5  # seconds LightGBM has to notice a host that left, before the watch ends the job
ACROSS_HOSTS = ("data", "voting")  # the tree learners that train one model on rows split across hosts

_world = 1  # hosts in the network that join started; 1 outside it


def network_params(params: dict) -> dict:
    """What lightgbm.train needs to train across the hosts joined: nothing on one host."""
    if _world == 1:
        return {}
    learner = params.get("tree_learner", "data")
    if learner not in ACROSS_HOSTS:
        raise HyperparameterError(
            f"hyperparameter tree_learner={learner} cannot train across hosts, where each host has only its "
            f"share of the rows; use {' or '.join(ACROSS_HOSTS)}, or instance_count=1"
        )
    # num_machines: Dataset construction finds the bin boundaries from every host's rows, the same
    # on each; pre_partition: each host already has its own rows.
    return {"num_machines": _world, "pre_partition": True}


@contextlib.contextmanager
def join(cluster):
    """The context in which this host trains one model together with the job's other hosts."""
    global _world
    _refuse_sharded_validation()
    print(
        f"{cluster.current}: joining {cluster.world} hosts (meeting at {cluster.hosts[0]}:{EXCHANGE_PORT}, "
        f"LightGBM's network on port {LISTEN_PORT})",
        flush=True,
    )
    with _meet(cluster) as exchange:
        threading.Thread(target=_watch, args=(exchange,), name="peer-watch", daemon=True).start()
        try:
            _call(_LIB.LGBM_NetworkInit(
                exchange.machines.encode(), ctypes.c_int(LISTEN_PORT), ctypes.c_int(SOCKET_TIMEOUT_MINUTES),
                ctypes.c_int(cluster.world),
            ))  # fmt: skip
            _world = cluster.world
            joined = f"joined as rank {cluster.rank} of {cluster.world} ({exchange.machines})"
            print(f"{cluster.current}: {joined}", flush=True)
            try:
                yield Group(cluster.rank, cluster.world, exchange)
            except LightGBMError as exc:
                if "socket" not in str(exc).lower():
                    raise
                raise PeerError(
                    f"the hosts stopped training together: {exchange.departed() or 'another host'} left "
                    f"(LightGBM: {str(exc)[:200]}); the first host to fail has the reason in its log"
                ) from exc
            finally:
                _world = 1
                _call(_LIB.LGBM_NetworkFree())
        finally:
            exchange.apart.set()
        exchange.finish()


def _watch(exchange: "Exchange") -> None:
    """While the hosts start LightGBM's network and train: a host whose connection closes has left.
    LightGBM notices a reset connection, not always a closed one (it may wait on it without end):
    if this host is still inside join WATCH_GRACE seconds later, the job fails here with the reason."""
    while not exchange.apart.is_set():
        gone = exchange.departed(wait=1.0)
        if gone and not exchange.apart.wait(WATCH_GRACE):
            from contract import training  # only now: `serve` loads model.py, and so this module, without it

            training.write_failure(
                Paths.from_env(),
                f"host {gone} left while the hosts trained together, and LightGBM kept waiting for it; "
                "its log says why it stopped",
            )
            os._exit(1)
        if gone:
            return


def _call(status: int) -> None:
    if status != 0:
        raise LightGBMError(_LIB.LGBM_GetLastError().decode("utf-8"))


def _refuse_sharded_validation() -> None:
    path = Paths.from_env().inputdataconfig
    channels = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if channels.get("validation", {}).get("S3DistributionType") == "ShardedByS3Key":
        raise DataError(
            "the validation channel is ShardedByS3Key, but LightGBM across hosts scores the whole validation "
            "channel on every host (its metrics count only a host's own rows): make it FullyReplicated"
        )


class Group:
    """The hosts training together: what the shared code asks of them (see cluster.SingleHost)."""

    whole_validation = True  # read by training.read_share: see the module's docstring

    def __init__(self, rank: int, world: int, exchange: "Exchange"):
        self.rank, self.world, self.exchange = rank, world, exchange

    def union(self, values: list[str]) -> list[str]:
        return sorted(set().union(*(set(v) for v in self.exchange.allgather([str(v) for v in values]))))

    def every(self, flag: bool) -> bool:
        return all(self.exchange.allgather(bool(flag)))


class Exchange:
    """The hosts' connections to algo-1, which gathers every host's message and sends all of them
    back: an allgather through one host, for the few small messages of a job."""

    def __init__(self, cluster, peers: dict[int, socket.socket], machines: str):
        self.cluster = cluster
        self.peers = peers  # algo-1: every other host's connection, by rank; elsewhere {0: the one to algo-1}
        self.machines = machines  # LightGBM's machine list, "address:port" by rank
        self.holding = False  # algo-1 keeps the connections open until its model is written
        self.apart = threading.Event()  # set once this host has left join

    def allgather(self, value) -> list:
        """Every host's value, by rank."""
        if not self.cluster.leader:
            _send(self.peers[0], {"value": value})
            return self._from_leader(None)["values"]
        values = [value]
        for rank in range(1, self.cluster.world):
            try:
                values.append(_receive(self.peers[rank], None)["value"])
            except (OSError, EOFError, KeyError):
                reason = f"host {self.cluster.hosts[rank]} stopped before the hosts agreed on the data; its log says so"
                self.tell_all({"error": reason})
                raise PeerError(reason) from None
        self.tell_all({"values": values})
        return values

    def finish(self) -> None:
        """Training together is over. algo-1 tells the others once its model is written; they wait
        for that word (a host that ended first would end a local-mode job before the model exists)."""
        if self.cluster.leader:
            self.holding = True
            telling = threading.Thread(target=self._when_written, name="model-written", daemon=True)
            telling.start()
            # The word goes out as the model is committed; a process ending just then still sends it.
            atexit.register(lambda: telling.join(10) if model_artifact.committed.is_set() else None)
            return
        print(f"{self.cluster.current}: waiting for {self.cluster.hosts[0]} to write the model", flush=True)
        if not self._from_leader(None).get("written"):
            raise PeerError(f"host {self.cluster.hosts[0]} answered out of turn; the hosts lost step")
        model_artifact.committed.set()  # the job's model is in place: a SIGTERM from now on ends this host with 0

    def _when_written(self) -> None:
        model_artifact.committed.wait()
        self.tell_all({"written": True})
        self.close()

    def tell_all(self, message: dict) -> None:
        for peer in self.peers.values():
            with contextlib.suppress(OSError):
                _send(peer, message)

    def close(self) -> None:
        for peer in self.peers.values():
            peer.close()

    def departed(self, wait: float = 0) -> str:
        """The hosts whose connection has closed, as far as this host can tell (a message waiting to
        be read is not a departure); wait: seconds to wait for one."""
        sockets = {peer.fileno(): rank for rank, peer in self.peers.items() if peer.fileno() >= 0}
        try:
            readable, _, _ = select.select(list(sockets), [], [], wait)
        except (OSError, ValueError):  # closed meanwhile: join is over
            return ""
        gone = []
        for fileno in readable:
            try:
                if self.peers[sockets[fileno]].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    gone.append(self.cluster.hosts[sockets[fileno]])
            except BlockingIOError:
                pass
            except OSError:
                gone.append(self.cluster.hosts[sockets[fileno]])
        if readable and not gone:
            time.sleep(wait)  # a message for the main thread: give it time to read it
        return ", ".join(gone)

    def _from_leader(self, timeout: float | None) -> dict:
        leader = self.cluster.hosts[0]
        try:
            message = _receive(self.peers[0], timeout)
        except TimeoutError:
            raise PeerError(f"host {leader} did not answer within {timeout} s") from None
        except (OSError, EOFError):
            raise PeerError(f"host {leader} stopped before the hosts were done together; its log says why") from None
        if "error" in message:
            raise PeerError(message["error"])
        return message


@contextlib.contextmanager
def _meet(cluster):
    """The exchange, once every host is there (algo-1 waits for them, the others for algo-1)."""
    deadline = time.monotonic() + PEER_TIMEOUT
    if cluster.leader:
        peers, ports = _gather_hosts(cluster, deadline)
        addresses = {0: peers[1].getsockname()[0]} | {rank: peer.getpeername()[0] for rank, peer in peers.items()}
        machines = ",".join(f"{addresses[rank]}:{ports[rank]}" for rank in range(cluster.world))
        exchange = Exchange(cluster, peers, machines)
        exchange.tell_all({"machines": machines})
    else:
        exchange = Exchange(cluster, {0: _reach_leader(cluster, deadline)}, "")
        # algo-1 answers within its own PEER_TIMEOUT, which began about when this host's did
        exchange.machines = exchange._from_leader(2 * PEER_TIMEOUT)["machines"]
    try:
        yield exchange
    finally:
        if not exchange.holding:
            exchange.close()


def _gather_hosts(cluster, deadline: float) -> tuple[dict[int, socket.socket], dict[int, int]]:
    """algo-1: every other host's connection and LightGBM port, by rank, once each has said who it is."""
    peers, ports = {}, {0: LISTEN_PORT}
    with socket.create_server(("", EXCHANGE_PORT), backlog=cluster.world) as server:
        while len(peers) < cluster.world - 1:
            server.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                connection, _address = server.accept()
            except TimeoutError:
                missing = ", ".join(host for rank, host in enumerate(cluster.hosts) if rank and rank not in peers)
                reason = f"host(s) {missing} did not join within {PEER_TIMEOUT} s; a multi-host job needs every host"
                Exchange(cluster, peers, "").tell_all({"error": reason})
                for peer in peers.values():
                    peer.close()
                raise PeerError(reason) from None
            try:
                hello = _receive(connection, 10)
                rank, port = int(hello["rank"]), int(hello["port"])
            except (OSError, EOFError, KeyError, ValueError):
                connection.close()  # not one of the job's hosts, or one that went away at once
                continue
            if not 0 < rank < cluster.world or cluster.hosts[rank] != hello.get("host") or rank in peers:
                connection.close()
                continue
            peers[rank], ports[rank] = connection, port
    return peers, ports


def _reach_leader(cluster, deadline: float) -> socket.socket:
    """Another host: its connection to algo-1, whose name resolves once its container is up."""
    leader = cluster.hosts[0]
    connection = reach(
        leader, lambda: socket.create_connection((leader, EXCHANGE_PORT), timeout=5), PEER_TIMEOUT, deadline
    )
    _send(connection, {"host": cluster.current, "rank": cluster.rank, "port": LISTEN_PORT})
    return connection


def _send(connection: socket.socket, message: dict) -> None:
    body = json.dumps(message).encode()
    connection.settimeout(30)
    connection.sendall(struct.pack("!I", len(body)) + body)


def _receive(connection: socket.socket, timeout: float | None) -> dict:
    """One message; timeout None: as long as it takes (a host reading a large share), until the
    other side closes."""
    connection.settimeout(timeout)
    (size,) = struct.unpack("!I", _exactly(connection, 4))
    return json.loads(_exactly(connection, size))


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data
