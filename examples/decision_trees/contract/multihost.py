"""How this project's framework trains one model across a training job's hosts, chosen when the
project was rendered: the contract joins the hosts itself, so nothing in model.py (an import kept
or deleted) can switch multi-host training on or off.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from collections.abc import Callable
from contextlib import AbstractContextManager

from contract.cluster import Cluster
from contract.interface import Group, ModelCode, constant

FRAMEWORK = "scikit-learn"
join = None  # scikit-learn trains on one host


def join_for(code: ModelCode) -> Callable[[Cluster], AbstractContextManager[Group]] | None:
    """How model.py's model trains across hosts: its own join (a framework of your own), else this
    project's framework's while model.py is of it (FRAMEWORK), else None: algo-1 trains alone."""
    if hasattr(code, "join"):
        return code.join
    return join if constant(code, "FRAMEWORK") == FRAMEWORK else None
