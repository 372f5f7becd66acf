"""The hosts of a training job, and what each one trains on.

SageMaker starts the same image on hosts algo-1 ... algo-N and lists them in
resourceconfig.json. A framework that trains one model across hosts (XGBoost) provides
`join(cluster)`, a context in which the hosts talk to each other; the shared code then
agrees on the classes through `union` and gives each host its share of the data. Every
other framework trains on one host and this module is a formality.
"""

import contextlib
from dataclasses import dataclass


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
    """What a group of one host answers; a distributed framework's group answers the same."""

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
