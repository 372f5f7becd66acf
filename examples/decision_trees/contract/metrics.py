"""Training metrics, printed as `name=value` lines that SageMaker's MetricDefinitions match.

SageMaker scans the job's stdout/stderr with one regex per metric; the first capture
group must be a number. `definitions()` is the single source for those regexes: the
lifecycle script ships them, and the tests run them over a real training log.

The per-iteration names are model.py's ITERATION_METRICS. The lifecycle, which runs where the
model's packages may not be installed, reads them from iteration_metrics.json beside model.py,
which `make metrics` writes from model.py as `train` reads it (a test says when it is stale).

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import json
import math

NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
FINAL = {"classification": ("accuracy",), "regression": ("rmse", "mae", "r2")}
NAMES_FILE = "iteration_metrics.json"  # beside model.py: ITERATION_METRICS, for the lifecycle


def emit(channel: str, name: str, value: float, iteration: int | None = None) -> None:
    prefix = "" if iteration is None else f"[{iteration}] "
    print(f"{prefix}{channel}:{name}={value:.6g}", flush=True)


def definitions(task: str, iteration_metrics: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """MetricDefinitions for a training job: the final metrics and the per-iteration ones."""
    names = [f"{ch}:{m}" for ch in ("train", "validation") for m in FINAL[task]]
    names += [f"validation:{m}" for m in iteration_metrics]
    return [{"Name": n, "Regex": rf"{n}={NUMBER}"} for n in dict.fromkeys(names)]


def final(task: str, truth, predicted) -> dict[str, float]:
    """The final metrics of a model's predictions (numpy arrays) against the truth."""
    import numpy as np  # here: the lifecycle script reads definitions() on machines without numpy

    if task == "classification":
        return {"accuracy": float(np.mean(truth == predicted))}
    error = predicted.astype(np.float64) - truth.astype(np.float64)
    variance = float(np.var(truth))
    return {
        "rmse": math.sqrt(float(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - float(np.mean(error**2)) / variance if variance > 0 else 0.0,
    }


if __name__ == "__main__":  # make metrics: python -m contract.metrics
    from contract import interface, paths

    paths.put_on_sys_path()
    names = interface.constant(interface.load_model_code(), "ITERATION_METRICS")
    (paths.PROGRAM / NAMES_FILE).write_text(json.dumps(list(names)) + "\n", encoding="utf-8")
    print(f"{NAMES_FILE}: {', '.join(names) or 'no per-iteration metric'}")
