"""`make bench`: our server against the AWS sample's way, BentoML and MLflow, on one model and machine.

    .venv/bin/python bench/run.py [--seconds 4] [--rounds 3] [--only ours_container,baseline_container]

It installs what it needs (wrk from apt, the Docker engine and base image through scripts/,
BentoML and MLflow in venvs of their own under build/bench/venvs), renders the default
project, builds its image and a baseline image (bench/baseline: the AWS sample's way), trains
the model once in our image, and measures with the rendered project's own benchmark.py
(extended by bench/compare.py: host-process servers, several servers taking turns):
- ours and the baseline as containers (the load generator inside each container's network
  namespace, on its 127.0.0.1);
- ours, BentoML and MLflow as host processes on 127.0.0.1, so each comparison is like for like.
Start, batch and memory are measured with each server alone; then all are up at once and take
turns under wrk, point by point and round by round (the median of the rounds is reported), so
the background load of a shared machine weighs on every server alike.
Every figure is reported as ours / theirs; the issue's targets are checked (PASS/FAIL) but only
a failed request (not 2xx, socket error) or a broken run gives a non-zero exit code.
Results: build/bench/results.json and build/bench/results.md (the table for the README).
"""

import argparse
import csv
import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import compare
import numpy as np
import report

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import our_estimator  # noqa: E402 (the estimator our image trained, from its model.skops)

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUT = ROOT / "build" / "bench"
VENVS = OUT / "venvs"
BASE_IMAGE = "debian:trixie-slim"
OUR_IMAGE = "byoc-bench-ours:latest"
BASELINE_IMAGE = "byoc-bench-baseline:latest"
SERVERS = ("ours_container", "baseline_container", "ours_host", "bentoml_host", "mlflow_host")
STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {text}", file=sys.stderr, flush=True)


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(map(str, cmd))} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}"
        )
    return result


# ---------------------------------------------------------------------------------------------
# Tools, installed on a fresh machine


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("installing wrk (apt)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    if subprocess.run(install, capture_output=True, env=env).returncode != 0:
        sh([*sudo, "apt-get", "update", "-qq"], env=env)
        sh(install, env=env)


def ensure_docker(env: dict) -> None:
    log("Docker engine (scripts/docker_engine.sh) and base image (scripts/base_image.sh)")
    sh([str(ROOT / "scripts" / "docker_engine.sh"), "start"], env=env)
    sh([str(ROOT / "scripts" / "base_image.sh"), BASE_IMAGE], env=env)


def start_venv(name: str) -> subprocess.Popen | None:
    """Create or update build/bench/venvs/NAME from bench/requirements-NAME.txt (in the background)."""
    requirements = BENCH / f"requirements-{name}.txt"
    venv = VENVS / name
    stamp = venv / ".requirements.sha256"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if (venv / "bin" / "python").exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return None
    log(f"installing {name} into {venv} (first run only)")
    shutil.rmtree(venv, ignore_errors=True)
    VENVS.mkdir(parents=True, exist_ok=True)
    script = (
        f"{sys.executable} -m venv {venv} && "
        f"{venv}/bin/pip install --quiet --disable-pip-version-check -r {requirements} && "
        f"echo {wanted} > {stamp}"
    )
    log_file = open(OUT / f"venv-{name}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(["bash", "-c", script], stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def start_build(image: str, context: Path, name: str) -> subprocess.Popen:
    log(f"building {image} from {context.relative_to(ROOT) if context.is_relative_to(ROOT) else context}")
    log_file = open(OUT / f"build-{name}.log", "w")  # noqa: SIM115
    cmd = ["docker", "build", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", image, str(context)]
    return subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def finish(jobs: dict[str, subprocess.Popen | None]) -> None:
    for name, job in jobs.items():
        if job is not None and job.wait() != 0:
            log_path = OUT / (f"venv-{name}.log" if not name.startswith("build-") else f"{name}.log")
            tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
            raise SystemExit(f"bench: {name} failed:\n{tail}")


# ---------------------------------------------------------------------------------------------
# The project, the model, the servers


PEER_PACKAGES = {"bentoml_host": ("bentoml", "bentoml"), "mlflow_host": ("mlflow", "mlflow")}


def package_version(venv: str, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    return sh([str(VENVS / venv / "bin" / "python"), "-c", code]).stdout.strip()


def render() -> Path:
    target = OUT / "render"
    shutil.rmtree(target, ignore_errors=True)
    sh([str(ROOT / ".venv" / "bin" / "cookiecutter"), "--no-input", str(ROOT), "-o", str(target)])
    projects = [p for p in target.iterdir() if p.is_dir()]
    return projects[0]


def import_benchmark(project: Path):
    spec = importlib.util.spec_from_file_location("benchmark", project / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark"] = module
    spec.loader.exec_module(module)
    return module


def our_model(program: Path, model_dir: Path):
    """(estimator, classes): the estimator in our model.skops, checked to predict what our server's
    model (the rendered program's contract, loading model.py) predicts."""
    estimator, classes = our_estimator.load(model_dir)
    sys.path[:0] = [str(program), str(program.parent)]  # model.py, then the project's contract/
    from contract import interface, model_artifact

    ours = model_artifact.load(interface.load_model_code(), model_dir)
    features = our_estimator.probe(ours.n_features)
    raw = estimator.predict(features)
    if not np.array_equal(ours.predict(features), raw if classes is None else classes[raw.astype(np.intp)]):
        raise SystemExit(f"bench: the estimator in {model_dir} does not predict what our server's model predicts")
    return estimator, classes


def baseline_model(estimator, model_dir: Path, out: Path) -> Path:
    """Our fitted estimator, pickled as the sample expects it, plus model.json for the labels."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with open(out / "decision-tree-model.pkl", "wb") as file:
        pickle.dump(estimator, file)
    with open(out / "decision-tree-model.pkl", "rb") as file:
        pickled = pickle.load(file)  # noqa: S301 (the file written just above)
    features = our_estimator.probe(estimator.n_features_in_)
    our_estimator.check_same("the sample way's pickle", pickled.predict(features), estimator, features)
    shutil.copy(model_dir / "model.json", out / "model.json")
    return out


def answer_check(bm, name: str, expected: list[str], parse: Callable[[bytes], list[str]]) -> Callable[[bytes], int]:
    """A Workload's count_rows that also checks the answers: the one row's or the batch's, each
    exactly what our estimator predicts (`expected`, one text per batch row, as `parse` gives them)."""

    def count_rows(body: bytes) -> int:
        got = parse(body)
        if len(got) in (1, len(expected)) and got != expected[: len(got)]:
            row = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
            raise bm.BenchError(
                f"{name} answered {got[row]!r} for row {row}, where our estimator predicts {expected[row]!r}"
            )
        return len(got)

    return count_rows


def csv_answers(body: bytes) -> list[str]:
    return [row[0] if row else "" for row in csv.reader(io.StringIO(body.decode()))]


def json_workload(bm, features, path: str, health: str, wrap, count, description: str):
    """A JSON workload with the same numbers as the CSV one."""
    return bm.Workload(
        health=bm.Request("GET", health),
        one_row=bm.Request("POST", path, json.dumps(wrap(features[:1].tolist())).encode(), "application/json"),
        batch=bm.Request("POST", path, json.dumps(wrap(features.tolist())).encode(), "application/json"),
        batch_rows=len(features),
        count_rows=count,
        description=description,
    )


def host_env(extra: dict[str, str], venv: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(venv / "bin")] if venv else []
    env["PATH"] = os.pathsep.join([*paths, str(ROOT / ".venv" / "bin"), "/usr/sbin", "/sbin", env.get("PATH", "")])
    env.update(extra)
    return env


def servers(bm, peers, project: Path, opt_ml: Path, baseline_dir: Path, mlflow_dir: Path) -> dict:
    """id -> (server, workload builder key, how it runs)."""
    model_dir = opt_ml / "model"
    for name in ("ours-host.log", "bentoml.log", "mlflow.log"):
        (OUT / name).unlink(missing_ok=True)
    ours_port, bento_port, mlflow_port = bm.free_port(), bm.free_port(), bm.free_port()
    return {
        "ours_container": bm.ContainerServer(OUR_IMAGE, model_dir, name="ours (container)"),
        "baseline_container": bm.ContainerServer(BASELINE_IMAGE, baseline_dir, name="baseline (container)"),
        "ours_host": peers.ProcessServer(
            "ours (host)",
            [sys.executable, str(project / "contract" / "serve")],
            ours_port,
            env=host_env({"OPT_ML": str(opt_ml), "SAGEMAKER_BIND_TO_PORT": str(ours_port)}),
            log=OUT / "ours-host.log",
        ),
        "bentoml_host": peers.ProcessServer(
            "BentoML (host)",
            [str(VENVS / "bentoml" / "bin" / "bentoml"), "serve", "bento_service:DecisionTrees",
             "--host", "127.0.0.1", "--port", str(bento_port)],
            bento_port,
            env=host_env(
                {
                    "BENCH_MODEL_DIR": str(model_dir),
                    "BENTOML_HOME": str(OUT / "bentoml_home"),
                    "BENTOML_DO_NOT_TRACK": "True",  # no usage reports (no network here)
                },
                VENVS / "bentoml",
            ),
            cwd=BENCH / "peers",
            log=OUT / "bentoml.log",
        ),
        "mlflow_host": peers.ProcessServer(
            "MLflow (host)",
            [str(VENVS / "mlflow" / "bin" / "mlflow"), "models", "serve", "-m", str(mlflow_dir),
             "-h", "127.0.0.1", "-p", str(mlflow_port), "--env-manager", "local"],
            mlflow_port,
            env=host_env({}, VENVS / "mlflow"),
            cwd=OUT,
            log=OUT / "mlflow.log",
        ),
    }  # fmt: skip


def workloads(bm, n_features: int, estimator, classes) -> dict:
    """Each server's requests; every answer to the one row and the batch is checked against the
    estimator's predictions (labels from ours, the sample way and BentoML; MLflow's codes)."""
    table = bm.csv_workload(n_features)
    features = bm.feature_matrix(bm.BATCH_ROWS, n_features)
    raw = estimator.predict(features)

    def text(value) -> str:  # labels as they are; numbers (codes, values) as the float they read as
        return str(value) if isinstance(value, str) else repr(float(value))

    labels = [text(v) for v in (raw.tolist() if classes is None else classes[raw.astype(np.intp)].tolist())]
    codes = [text(v) for v in raw.tolist()]

    def csv_for(name: str):
        return dataclasses.replace(table, count_rows=answer_check(bm, name, labels, lambda body: [
            text(v) if classes is None else v for v in csv_answers(body)]))  # fmt: skip

    bento = json_workload(
        bm,
        features,
        "/predict",
        "/readyz",
        lambda rows: {"data": rows},
        answer_check(bm, "BentoML", labels, lambda body: [text(v) for v in json.loads(body)]),
        f'application/json {{"data": rows}} to /predict (numpy input); batch {len(features)} rows',
    )
    mlflow = json_workload(
        bm, features, "/invocations", "/ping", lambda rows: {"dataframe_split": {"data": rows}},
        answer_check(bm, "MLflow", codes, lambda body: [text(v) for v in json.loads(body)["predictions"]]),
        f'application/json {{"dataframe_split": ...}} to /invocations; batch {len(features)} rows',
    )  # fmt: skip
    return {
        "ours_container": csv_for("ours (container)"),
        "baseline_container": csv_for("the sample way"),
        "ours_host": csv_for("ours (host)"),
        "bentoml_host": bento,
        "mlflow_host": mlflow,
    }


# ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=4, help="each measured wrk run, in seconds (default 4)")
    parser.add_argument("--warmup", type=int, default=1, help="wrk warm-up before a point's first round (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per point, servers taking turns (default 3)")
    parser.add_argument("--only", default=",".join(SERVERS), help=f"comma-separated subset of {','.join(SERVERS)}")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the table and results.md from build/bench/results.json"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.report_only:
        return report_only()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SERVERS)
    if unknown:
        raise SystemExit(f"bench: unknown server(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    # The engine is stopped at the end only if this run started it (scripts/docker_engine.sh's pid file).
    engine_env = dict(os.environ, BYOC_DOCKERD_PIDFILE=str(OUT / "dockerd.pid"))
    ensure_wrk()
    ensure_docker(engine_env)
    try:
        return run(args, only)
    finally:
        subprocess.run([str(ROOT / "scripts" / "docker_engine.sh"), "stop"], env=engine_env, capture_output=True)


def run(args: argparse.Namespace, only: list[str]) -> int:
    project = render()
    log(f"rendered {project.relative_to(ROOT)}")
    bm = import_benchmark(project)
    jobs: dict[str, subprocess.Popen | None] = {
        "bentoml": start_venv("bentoml") if "bentoml_host" in only else None,
        "mlflow": start_venv("mlflow") if "mlflow_host" in only else None,
        "build-ours": start_build(OUR_IMAGE, project, "ours"),
        "build-baseline": start_build(BASELINE_IMAGE, BENCH / "baseline", "baseline")
        if "baseline_container" in only
        else None,
    }
    try:
        finish({"build-ours": jobs["build-ours"]})
        work = OUT / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        model_dir = bm.train(OUR_IMAGE, work, log)
        opt_ml = model_dir.parent
        n_features = bm.n_features(model_dir)
        estimator, classes = our_model(project / project.name, model_dir)
        baseline_dir = baseline_model(estimator, model_dir, work / "baseline_model")
        finish(jobs)
    finally:  # on a failure, nothing started here outlives the run
        for job in jobs.values():
            if job is not None and job.poll() is None:
                os.killpg(job.pid, signal.SIGTERM)  # the job's own process group (bash and its pip)
                job.wait()
    mlflow_dir = work / "mlflow_model"
    if "mlflow_host" in only:
        log("saving the model as an MLflow model")
        sh([str(VENVS / "mlflow" / "bin" / "python"), str(BENCH / "peers" / "mlflow_model.py"),
            str(model_dir), str(mlflow_dir)])  # fmt: skip

    settings = bm.Settings(seconds=args.seconds, warmup=args.warmup, rounds=args.rounds, log=log)
    peers = compare.load(bm)
    all_servers = servers(bm, peers, project, opt_ml, baseline_dir, mlflow_dir)
    all_workloads = workloads(bm, n_features, estimator, classes)
    entries = {key: (all_servers[key], all_workloads[key]) for key in only}
    results = peers.measure_all(entries, settings)
    failed = False
    for key, result in results.items():
        server = all_servers[key]
        if isinstance(server, bm.ContainerServer):
            result["image"] = server.image
            result["image_bytes"] = bm.image_bytes(server.image)
        if key in PEER_PACKAGES:
            result["version"] = package_version(*PEER_PACKAGES[key])
        failed = failed or bool(result["failures"])

    command = "make bench" + (f"  (bench/run.py {' '.join(sys.argv[1:])})" if sys.argv[1:] else "")
    settings_dict = {k: v for k, v in vars(settings).items() if k != "log"}
    write_report(bm, results, dict(bm.machine(), base_image=base_image_origin()), settings_dict, command)
    for result in results.values():
        for failure in result["failures"]:
            print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failed else 0


def base_image_origin() -> str:
    """The base image, and whether it came from a registry or is scripts/base_image.sh's stand-in."""
    label = sh(["docker", "image", "inspect", "-f", '{{index .Config.Labels "byoc.base-image"}}', BASE_IMAGE])
    if label.stdout.strip() == "stand-in":
        return f"`{BASE_IMAGE}`, a local stand-in built by scripts/base_image.sh (no registry answered)"
    return f"`{BASE_IMAGE}`, pulled from its registry"


def write_report(bm, results: dict, machine: dict, settings: dict, command: str) -> None:
    summary = report.build(bm, results, machine, settings, command)
    print(summary["text"])
    (OUT / "results.json").write_text(json.dumps(summary["json"], indent=2) + "\n", encoding="utf-8")
    (OUT / "results.md").write_text(summary["markdown"], encoding="utf-8")
    log(f"wrote {(OUT / 'results.json').relative_to(ROOT)} and {(OUT / 'results.md').relative_to(ROOT)}")


def report_only() -> int:
    """The table and results.md again from the last run's results.json (after a change to report.py)."""
    data = json.loads((OUT / "results.json").read_text(encoding="utf-8"))
    projects = [p for p in (OUT / "render").iterdir() if p.is_dir()]
    bm = import_benchmark(projects[0])
    write_report(bm, data["servers"], data["machine"], data["settings"], data["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
