"""What `train` does: read /opt/ml, fit the framework's model, write /opt/ml/model.

The contract, in order: hyperparameters arrive as strings (typed by the schema); every
CSV of the `training` channel is read, and `validation` when given; the model lands in
/opt/ml/model only once complete. Any failure exits non-zero with a reason of at most
1024 characters in /opt/ml/output/failure (SageMaker's FailureReason) and the traceback
on stderr. SIGTERM (StopTrainingJob, MaxRuntime, a spot interruption) ends the job at once,
leaving no model.

model.py is imported once, here, checked against contract/interface.py, and passed down.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import json
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from contract import cpus, dataset, hyperparameters, interface, metrics, model_artifact, multihost, tables
from contract.cluster import Cluster, PeerError, SingleHost, one_host_trains, single_host
from contract.interface import Data, Job, ModelCode
from contract.paths import Paths

FAILURE_LIMIT = 1024  # characters of /opt/ml/output/failure that SageMaker keeps
MAX_AUTO_CLASSES = 20  # integer labels with more distinct values than this mean regression
MIN_ROWS = 2
MAX_CLASSES = 1000  # more than this is almost surely a regression target given a classification objective
EXIT_STOPPED = 143  # 128 + SIGTERM, as a shell reports a process it terminated


class TrainingError(ValueError):
    """Training cannot go on; the message says what to change."""


# Errors whose message already says what went wrong and what to do.
EXPLAINED = (
    TrainingError,
    dataset.DataError,
    hyperparameters.HyperparameterError,
    PeerError,
    interface.InterfaceError,
    model_artifact.SaveError,
)
PROBE_ROWS = 64  # training rows the reloaded model must predict as the trained one does
finished = threading.Event()  # set once the job's work is done: a late SIGTERM then exits 0


def main() -> int:
    paths = Paths.from_env()
    _stop_on_signals(paths)
    try:
        paths.failure.unlink(missing_ok=True)
        train(paths, interface.load_model_code())
        finished.set()
    except Exception as exc:
        traceback.print_exc()
        model_artifact.discard_staging(paths.model)
        write_failure(paths, failure_reason(exc))
        return 1
    return 0


def train(paths: Paths, code: ModelCode) -> None:
    """code: model.py, checked (interface.load_model_code)."""
    started = time.monotonic()
    config = read_config(paths)
    params = hyperparameters.parse(config["hyperparameters"], hyperparameters.load_schema())
    print("hyperparameters: " + json.dumps(params, sort_keys=True), flush=True)
    cluster = Cluster.from_resourceconfig(config["resources"])
    join = multihost.join_for(code)
    if cluster.world == 1:
        train_on(paths, config, params, cluster, single_host(), code)
    elif join is not None:
        print(f"{cluster.current}: host {cluster.rank + 1} of {cluster.world}, training one model together")
        train_on(paths, config, params, cluster, join(cluster), code)
    else:
        print(
            f"{cluster.current}: {interface.constant(code, 'FRAMEWORK')} trains on one host: {cluster.hosts[0]} "
            "trains and writes the model, the other hosts wait for it. Use instance_count=1.",
            flush=True,
        )
        with one_host_trains(cluster) as trains:
            if trains:
                train_on(paths, config, params, cluster, single_host(), code)
    print(f"done in {time.monotonic() - started:.1f} s", flush=True)


def train_on(paths: Paths, config: dict, params: dict, cluster: Cluster, cluster_group, code: ModelCode) -> None:
    with cluster_group as group:
        train_table, valid_table, columns = read_tables(paths, config, group, code)
        given = hyperparameters.Tracked(params)  # what model.py reads of them, for the check below
        task, classes, y, y_valid = label_rows(code, given, train_table, valid_table, group)
        if paths.checkpoints.is_dir():  # a CheckpointConfig (managed spot training)
            print(
                f"checkpoints: {paths.checkpoints} exists, but {interface.constant(code, 'FRAMEWORK')} fits in one "
                "go: nothing is saved there, and an interrupted job trains from the start",
                flush=True,
            )
        job = Job(task=task, n_classes=0 if classes is None else len(classes), threads=cpu_count())
        names = train_table.feature_names
        validation = None if valid_table is None else Data(valid_table.features, y_valid, names)
        estimator, heard = fit_model(code, given, params, Data(train_table.features, y, names), validation, job)
    report_fit(code, params, given, estimator, heard)
    report_metrics(code, task, estimator, "train", train_table.features, y)
    if valid_table is not None:
        report_metrics(code, task, estimator, "validation", valid_table.features, y_valid)
    if not cluster.leader:
        print(f"{cluster.current}: {cluster.hosts[0]} writes the model", flush=True)
        return
    meta = {
        "task": task,
        "classes": None if classes is None else [str(c) for c in classes],
        "n_features": int(train_table.features.shape[1]),
        "feature_type": interface.constant(code, "FEATURE_TYPE"),
        "feature_names": None if train_table.feature_names is None else list(train_table.feature_names),
        "hyperparameters": params,
        "versions": code.versions() if hasattr(code, "versions") else {},
        **({"columns": columns} if columns else {}),  # a table's columns: name, kind, categories
    }
    write_model(paths, code, estimator, meta, train_table.features[:PROBE_ROWS], job.threads)


def read_tables(paths: Paths, config: dict, group, code: ModelCode) -> tuple:
    """(training, validation or None, a table's columns or None): this host's share of each channel,
    checked to have the same columns as every other file and host; a table's rows as DataFrames."""
    feature_type = interface.constant(code, "FEATURE_TYPE")
    reading = (feature_type, interface.constant(code, "LABEL"), interface.constant(code, "COLUMNS"))
    train_table = read_share(paths, config, "training", group, *reading)
    valid_table = None
    if "validation" in config["channels"] or paths.channel("validation").is_dir():
        valid_table = read_share(paths, config, "validation", group, *reading)
    tables_read = [t for t in (train_table, valid_table) if t is not None]
    check_same_columns(tables_read, group)
    columns = None
    if reading[2]:  # a table: categories fixed by every host's training rows, then DataFrames
        names = train_table.feature_names
        columns = tables.schema(names, tables.kinds(names, reading[2]), train_table.features, group.union)
        for table in tables_read:
            table.features = tables.frame(columns, table.features)
    return train_table, valid_table, columns


def check_same_columns(tables_read: list, group) -> None:
    """Every file of every channel on every host has the same number of columns and the same header."""
    widths = group.union([str(t.features.shape[1]) for t in tables_read])
    if len(widths) > 1:
        raise TrainingError(
            f"the data has {' and '.join(widths)} feature columns in different files or hosts; "
            "every file of every channel needs the same columns"
        )
    headers = group.union([",".join(t.feature_names) if t.feature_names else "(none)" for t in tables_read])
    if len(headers) > 1:
        raise TrainingError(
            f"the channels or hosts have different headers ({'; '.join(headers)}); every file of every "
            "channel needs the same header, or none"
        )


def label_rows(code: ModelCode, given, train_table, valid_table, group) -> tuple:
    """(task, classes, y, y_valid): the task (model.py's task_of, else inferred from the labels) and
    the labels encoded as fit gets them (class codes 0..k-1, or floats)."""
    if len(train_table.labels) < MIN_ROWS:
        raise TrainingError(
            f"training has {len(train_table.labels)} row(s) here; at least {MIN_ROWS} are needed to fit a model"
        )
    task = (code.task_of(given) if hasattr(code, "task_of") else None) or infer_task(train_table.labels, group)
    classes, y = encode_labels(task, train_table.labels, "training", group=group)
    y_valid = None
    if valid_table is not None:
        _, y_valid = encode_labels(task, valid_table.labels, "validation", classes, group)
    print(f"task: {task}" + (f", classes: {', '.join(classes)}" if classes is not None else ""), flush=True)
    return task, classes, y, y_valid


def fit_model(code: ModelCode, given, params: dict, train: Data, validation: Data | None, job: Job) -> tuple:
    """(model.py's fitted model, the warnings heard while it fitted)."""
    with warnings.catch_warnings(record=True) as heard:  # a library's word on parameters it did not use
        warnings.simplefilter("always")
        try:
            return code.fit(given, train, validation, job), heard
        except TypeError as exc:  # an estimator given a keyword it does not take
            framework = interface.constant(code, "FRAMEWORK")
            hyperparameters.unused_by_library([str(exc)], params, framework, others=False)
            raise


def report_fit(code: ModelCode, params: dict, given, estimator, heard: list) -> None:
    """The library's warnings (once each), then the check that every hyperparameter reached the model."""
    shown = (w for w in heard if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)))
    for message in dict.fromkeys((str(w.message), w.category) for w in shown):  # shown, once each
        print(f"{message[1].__name__}: {message[0].strip()}", file=sys.stderr, flush=True)
    check_reached(code, params, estimator, [str(w.message) for w in heard])
    if given.unread():
        print(
            f"warning: hyperparameter(s) {', '.join(given.unread())} never reached model.py (task_of and fit did "
            "not read them): pass them to your model, or remove them from hyperparameters.json",
            flush=True,
        )


def write_model(paths: Paths, code: ModelCode, estimator, meta: dict, probe, threads: int) -> None:
    """The model and model.json into /opt/ml/model (the leader's part), and model.json's digest logged."""
    names = model_artifact.save(code, paths.model, estimator, meta, probe, threads)
    print(f"model saved to {paths.model}: {', '.join(names)}", flush=True)
    digest = model_artifact.sha256(paths.model / model_artifact.META)
    print(f"model digest: {model_artifact.PINNED}={digest} (pin it in the endpoint's environment)", flush=True)


def check_reached(code: ModelCode, params: dict, estimator, messages: list[str]) -> None:
    """Every schema hyperparameter reached the fitted model: the library said of none that it went
    unused, and the model holds each (but OWN_HYPERPARAMETERS) with its value; else HyperparameterError."""
    framework = interface.constant(code, "FRAMEWORK")
    if hasattr(code, "fitted_params"):
        fitted = code.fitted_params(estimator)
    elif callable(getattr(estimator, "get_params", None)):
        fitted = estimator.get_params()
    else:
        fitted = None
    hyperparameters.unused_by_library(messages, params, framework, known=fitted or ())
    if fitted is not None:
        hyperparameters.check_reached(
            params,
            fitted,
            interface.constant(code, "OWN_HYPERPARAMETERS"),
            interface.constant(code, "RENAMED_HYPERPARAMETERS"),
            f"the fitted {framework} model",
        )


def read_share(
    paths: Paths, config: dict, channel: str, group, feature_type: str = "number", label=0, columns=None
) -> dataset.Table:
    """This host's part of a channel. ShardedByS3Key: what SageMaker gave it. FullyReplicated
    (every host has everything): every world-th file, or every world-th row if there are
    fewer files than hosts, so the job as a whole sees every row once."""
    sharded = config["channels"].get(channel, {}).get("S3DistributionType") == "ShardedByS3Key"
    # A group whose library scores validation on each host's own rows has every host read it whole.
    whole = channel == "validation" and getattr(group, "whole_validation", False)
    part = None if group.world == 1 or sharded or whole else (group.rank, group.world)
    table = dataset.read_channel(channel, paths.channel(channel), part, feature_type, label, columns)
    print(
        f"{channel}: {len(table.labels)} rows, {table.features.shape[1]} features"
        + (" (text)" if feature_type == "text" else "")
        + (f" (a table; declared: {', '.join(f'{n} {k}' for n, k in columns.items())})" if columns else "")
        + f", {len(table.files)} file(s)"
        + (f", header {','.join(table.feature_names)}" if table.feature_names else "")
        + (" (all of it, on every host)" if whole else "")
        + (f" (share {group.rank + 1} of {group.world})" if group.world > 1 and not whole else ""),
        flush=True,
    )
    return table


def read_config(paths: Paths) -> dict:
    hps = _read_json(paths.hyperparameters, {})
    channels = _read_json(paths.inputdataconfig, {})
    for name, channel in channels.items():
        mode = channel.get("TrainingInputMode", "File")
        if mode not in ("File", "FastFile"):
            raise TrainingError(
                f"channel '{name}' uses TrainingInputMode {mode}; this image reads files: "
                "use File or FastFile input mode"
            )
    return {"hyperparameters": hps, "channels": channels, "resources": _read_json(paths.resourceconfig, {})}


def _read_json(path: Path, default: dict) -> dict:
    if not path.exists():
        return default
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TrainingError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TrainingError(f"{path.name} must hold a JSON object")
    return value


def infer_task(labels: np.ndarray, group=None) -> str:
    group = group or SingleHost()
    numbers = _numbers(labels)
    if not group.every(numbers is not None):
        return "classification"
    if group.every(bool(np.all(numbers == np.round(numbers)))):
        distinct = [_canonical(v) for v in np.unique(numbers)[: MAX_AUTO_CLASSES + 1]]
        if len(group.union(distinct)) <= MAX_AUTO_CLASSES:
            return "classification"
    return "regression"


def encode_labels(task: str, labels: np.ndarray, channel: str, classes: np.ndarray | None = None, group=None):
    """(classes, y): class names and codes 0..k-1 for classification, (None, floats) for regression.

    On a multi-host job the classes are those of every host's labels together."""
    group = group or SingleHost()
    numbers = _numbers(labels)
    if task == "regression":
        if numbers is None:
            bad = str(next(v for v in labels if _numbers(np.asarray([v])) is None))
            raise TrainingError(
                f"{channel}: label {bad!r} is not a number, but the task is regression; "
                "use numeric labels or a classification objective"
            )
        return None, numbers
    numeric = group.every(numbers is not None)  # numeric labels on every host: classes "1" and "1.0" are one
    names = np.asarray([_canonical(v) for v in numbers]) if numeric else labels
    if classes is None:
        unique = np.asarray(group.union(np.unique(names)[: MAX_CLASSES + 1].tolist()))
        if numeric:
            unique = unique[np.argsort(unique.astype(np.float64), kind="stable")]
        if len(unique) < 2:
            raise TrainingError(
                f"{channel}: every label is {str(unique[0])!r}; classification needs at least two classes"
            )
        if len(unique) > MAX_CLASSES:
            raise TrainingError(
                f"{channel}: {len(unique)} distinct labels for a classification task (at most {MAX_CLASSES}); "
                "for a numeric target choose a regression objective"
            )
        classes = unique
    index = {name: code for code, name in enumerate(classes)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise TrainingError(
            f"{channel}: label(s) {', '.join(repr(str(u)) for u in unknown[:5])} do not occur in training; "
            "every validation label must also be a training label"
        )
    return classes, np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names))


def _numbers(labels: np.ndarray) -> np.ndarray | None:
    try:
        numbers = labels.astype(np.float64)
    except ValueError:
        return None
    return numbers if np.all(np.isfinite(numbers)) else None


def _canonical(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(float(value))


def report_metrics(code: ModelCode, task: str, estimator, channel: str, features: np.ndarray, truth: np.ndarray):
    predicted = np.asarray(code.predict(estimator, features))
    if predicted.ndim != 1:  # k answers a row (multi-output, top classes...): the metrics compare one label
        print(f"{channel}: no final metrics: the model answers {predicted.shape[1]} values a row", flush=True)
        return
    for name, value in metrics.final(task, truth, predicted).items():
        metrics.emit(channel, name, value)


def cpu_count() -> int:
    """Threads for training: OMP_NUM_THREADS when set (e.g. to share a host), else the CPUs the
    container may use (its CPU quota honoured, as serving's worker count does)."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return cpus.cpu_count()


def failure_reason(exc: Exception) -> str:
    if isinstance(exc, EXPLAINED):
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc} (the job's log has the traceback)"
    return reason if len(reason) <= FAILURE_LIMIT else reason[: FAILURE_LIMIT - 1] + "…"


def write_failure(paths: Paths, reason: str) -> None:
    try:
        paths.output.mkdir(parents=True, exist_ok=True)
        paths.failure.write_text(reason, encoding="utf-8")
    except OSError as exc:
        print(f"could not write {paths.failure}: {exc}", file=sys.stderr)
    print(f"training failed: {reason}", file=sys.stderr, flush=True)


def _stop_on_signals(paths: Paths) -> None:
    """SIGTERM/SIGINT stop the job at once, even while the framework runs native code.

    Python runs signal handlers only between bytecodes of the main thread, which may sit in
    a long C call (a tree build, a boosting round). The C-level handler still writes the
    signal number to a pipe; a watcher thread waiting on it ends the process.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    signal.set_wakeup_fd(write_fd)

    def watch() -> None:
        signum = os.read(read_fd, 1)[0]
        with model_artifact.commit_lock:  # never stop halfway through renaming the model into place
            done = finished.is_set() or model_artifact.committed.is_set()
            if not done:
                model_artifact.discard_staging(paths.model)
                write_failure(
                    paths,
                    f"training was stopped by {signal.Signals(signum).name} before it finished; "
                    "no model was saved. Raise MaxRuntimeInSeconds if the job ran out of time.",
                )
        os._exit(0 if done else EXIT_STOPPED)

    threading.Thread(target=watch, name="stop-on-signal", daemon=True).start()
