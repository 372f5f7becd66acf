"""Where things are: the project's two folders, and the /opt/ml contract, each named in one place.

The image mirrors the project: /opt/program/contract (this package, with `train` and `serve`)
and /opt/program/<your folder> (model.py and the files beside it). The entry points put both
on sys.path (`put_on_sys_path`), so `import model` and `from contract import ...` work the same
on a host and in the image, without PYTHONPATH.

SageMaker mounts everything under /opt/ml. OPT_ML moves that root so `train` and `serve`
also run on a host without Docker (the project's tests and the demo use it); SageMaker
never sets it.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]  # /opt/program in the image
PROGRAM = PROJECT / "decision_trees"  # your folder: model.py, hyperparameters.json, requirements


def put_on_sys_path() -> None:
    """Your folder first (model.py and the modules it imports), then the project (this package)."""
    for folder in (PROJECT, PROGRAM):
        if str(folder) in sys.path:
            sys.path.remove(str(folder))
        sys.path.insert(0, str(folder))


# The settings this module reads, for docs/environment.md: name -> (default, effect).
ENVIRONMENT = {
    "OPT_ML": ("`/opt/ml`", "the root `train` and `serve` read and write: a folder laid out like `/opt/ml` on a host"),
    "CHECKPOINT_DIR": (
        "`/opt/ml/checkpoints`",
        "the checkpoint folder, when the job's `CheckpointConfig.LocalPath` is another one",
    ),
}


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def from_env(cls) -> "Paths":
        return cls(Path(os.environ.get("OPT_ML", "/opt/ml")))

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters(self) -> Path:
        return self.config / "hyperparameters.json"

    @property
    def inputdataconfig(self) -> Path:
        return self.config / "inputdataconfig.json"

    @property
    def resourceconfig(self) -> Path:
        # Lowercase: AWS's old sample ships "resourceConfig.json", which SageMaker never writes.
        return self.config / "resourceconfig.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        # CheckpointConfig.LocalPath: SageMaker syncs it with S3; CHECKPOINT_DIR when it is not the default.
        return Path(os.environ.get("CHECKPOINT_DIR") or self.root / "checkpoints")

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def failure(self) -> Path:
        # SageMaker shows the first 1024 characters of this file as the job's FailureReason.
        return self.output / "failure"
