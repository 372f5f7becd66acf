"""The CPUs this container may use, for training's threads and serving's workers alike.

`docker run --cpus`, an inference component's NumberOfCpuCoresRequired and ECS-style limits set
a cgroup CPU quota, not a CPU set: the host's core count would start more threads than the
container gets time for.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import os
from pathlib import Path

CGROUP_CPU_FILES = (
    Path("/sys/fs/cgroup/cpu.max"),  # cgroup v2: "<quota> <period>" or "max <period>"
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),  # cgroup v1: quota (-1: none), period beside it
)


def cpu_count(cgroup_files: tuple[Path, Path] = CGROUP_CPU_FILES) -> int:
    """This process's CPU set, capped by its cgroup's CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_files)
    return max(1, min(cores, quota)) if quota else cores


def cgroup_cpu_quota(cgroup_files: tuple[Path, Path] = CGROUP_CPU_FILES) -> int | None:
    """The cgroup's CPU quota in whole CPUs (rounded up), or None without one."""
    v2, v1 = cgroup_files
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
        else:
            quota = v1.read_text().strip()
            period = v1.with_name("cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return None
