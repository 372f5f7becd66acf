"""The comparison table (text and Markdown), the ratios ours / theirs and the issue's targets."""

# (ours, theirs, column title): each comparison is between servers run the same way.
PAIRS = [
    ("ours_container", "baseline_container", "baseline"),
    ("ours_host", "bentoml_host", "BentoML"),
    ("ours_host", "mlflow_host", "MLflow"),
]
COLUMNS = [
    ("ours_container", "ours (container)"),
    ("baseline_container", "AWS-sample way (container)"),
    ("ours_container/baseline_container", "ours / sample way"),
    ("ours_host", "ours (host)"),
    ("bentoml_host", "BentoML (host)"),
    ("ours_host/bentoml_host", "ours / BentoML"),
    ("mlflow_host", "MLflow (host)"),
    ("ours_host/mlflow_host", "ours / MLflow"),
]
SAMPLE_IMAGE_MB = 738  # the figure for the AWS sample's image on the same base
# (description, ours, theirs, figure, at most / at least, bound, stretch)
TARGETS = [
    *[
        (f"1-row throughput >= 3x the sample way's, c={c}", "ours_container", "baseline_container", f"rps_c{c}",
         ">=", 3.0, False)
        for c in (1, 4, 16)
    ],
    *[
        (f"1-row throughput >= 5x {name}'s, c={c}", "ours_host", key, f"rps_c{c}", ">=", 5.0, False)
        for name, key in (("BentoML", "bentoml_host"), ("MLflow", "mlflow_host"))
        for c in (1, 4, 16)
    ],
    ("p99 latency at c=16 <= 0.5x the sample way's", "ours_container", "baseline_container", "p99_c16", "<=", 0.5,
     False),
    ("4 MB batch time <= 0.5x the sample way's", "ours_container", "baseline_container", "batch_s", "<=", 0.5, False),
    ("start to healthy /ping <= 0.75x the sample way's", "ours_container", "baseline_container", "startup_s", "<=",
     0.75, False),
    ("memory of the whole server (PSS) <= the sample way's", "ours_container", "baseline_container", "pss_mib", "<=",
     1.0, False),
    ("image <= 0.6x the sample way's image (built here)", "ours_container", "baseline_container", "image_mb", "<=",
     0.6, False),
    ("image <= 0.6x the sample's 738 MB (the issue's figure)", "ours_container", None, "image_mb", "<=", 0.6, False),
    *[
        (f"stretch: 1-row rate >= 60% of the same server's /ping rate, c={c}", "ours_container", None, f"share_c{c}",
         ">=", 0.6, True)
        for c in (1, 4, 16)
    ],
]  # fmt: skip

NOTES = """\
- **ours (container)** and **AWS-sample way (container)**: `docker run IMAGE serve`, the load generator (wrk)
  inside the container's network namespace on its 127.0.0.1 (no docker-proxy). The sample way is our own
  reimplementation of AWS's `scikit_bring_your_own` serving code (`bench/baseline/`): pandas `read_csv` and
  `to_csv` per request, model unpickled by the first `/ping`, the sample's nginx.conf, gunicorn sync workers
  (one per core); on the same base image with pandas and scipy.
- **ours (host)**, **BentoML (host)**, **MLflow (host)**: host processes on 127.0.0.1. BentoML {bentoml}: a
  `@bentoml.service` with a numpy-array API (JSON `{{"data": rows}}` to `/predict`), default settings (1 worker).
  MLflow {mlflow}: `mlflow models serve --env-manager local` of `mlflow.sklearn.save_model` (JSON
  `dataframe_split` to `/invocations`), default settings (1 worker).
- One model for all: the scikit-learn tree trained once by our image and saved with skops (`model.skops`).
  Ours serves that file; the others serve the same fitted estimator, loaded from it with `skops.io.load`
  (`bench/peers/our_estimator.py`) and kept in each one's own format: the sample way's pickle, MLflow's
  `mlflow.sklearn.save_model`, BentoML's service object. Each is checked to predict identically: the
  saved forms on 20,000 rows, and every server's answers to the 1-row request and the batch.
- 1-row requests: one CSV row (ours, sample way) or the same row in the peer's JSON format; wrk with as
  many connections as the concurrency (c), {threads}; per point, {rounds} rounds of {seconds:g} s (after a
  {warmup:g} s warm-up) with the servers taking turns, all of them up; the median round is reported.
  The batch: 250,000 rows x 4 features (4.0 MB of CSV; the same numbers as JSON for the peers), one request
  on a new connection, median of 3 after one untimed. Start: from `docker run`/process start to the first 200
  from the health route (`/ping`; BentoML `/readyz`), median of 3 fresh servers. Start, batch and memory are
  measured with the server alone. Memory: PSS and RSS summed over the server's processes after the batch; per
  worker: mean over its worker processes.
- Ratios are ours / theirs: above 1 is better for rates, below 1 is better for times, memory and size.
"""


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def build(bm, results: dict, machine: dict, settings: dict, command: str) -> dict:
    figs = {key: bm.figures(result) for key, result in results.items()}
    ratios = {}
    for ours, theirs, _ in PAIRS:
        if ours in figs and theirs in figs:
            ratios[f"{ours}/{theirs}"] = {k: ratio(figs[ours][k], figs[theirs][k]) for k in figs[ours]}
    targets = check_targets(figs)
    columns = [(key, title) for key, title in COLUMNS if key in figs or key in ratios]

    def cell(column: str, figure: str, unit: str) -> str:
        if "/" in column:
            value = ratios[column].get(figure)
            return "-" if value is None or figure == "workers" else f"{value:.2f}"
        return bm.fmt(figs[column].get(figure), unit)

    header = ["figure"] + [title for _, title in columns]
    rows = []
    for figure, label, unit, _ in bm.FIGURES:
        cells = [cell(column, figure, unit) for column, _ in columns]
        if all(c == "-" for c in cells):
            continue
        rows.append([label + (f" ({unit})" if unit else "")] + cells)

    versions = {
        "bentoml": results.get("bentoml_host", {}).get("version", "1.4"),
        "mlflow": results.get("mlflow_host", {}).get("version", "3"),
    }
    threads = "wrk -t 1 at c=1, -t 2 above"
    notes = NOTES.format(
        threads=threads, seconds=settings["seconds"], warmup=settings["warmup"], rounds=settings["rounds"], **versions
    )
    title = f"Serving benchmark: {machine['cores']} cores ({machine['cpu']}), {machine['platform']}, {machine['date']}"

    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    text_lines = [title, ""]
    text_lines.append("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header)))
    for row in rows:
        text_lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
    text_lines += ["", "Targets (ours / theirs):"]
    text_lines += [f"  {t['verdict']:<4}  {t['description']}: {t['detail']}" for t in targets]
    text_lines += ["", f"command: {command}"]

    md = [f"### {title}", "", f"Command: `{command}`", ""]
    if machine.get("base_image"):  # image sizes describe this base
        md += [f"Base image: {machine['base_image']}", ""]
    md.append("| " + " | ".join(header) + " |")
    md.append("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    md += ["| " + " | ".join(row) + " |" for row in rows]
    md += ["", "| target | result |", "| --- | --- |"]
    md += [f"| {t['description']} | **{t['verdict']}**: {t['detail']} |" for t in targets]
    md += ["", notes]
    return {
        "text": "\n".join(text_lines),
        "markdown": "\n".join(md),
        "json": {
            "machine": machine,
            "command": command,
            "settings": settings,
            "figures": figs,
            "ratios": ratios,
            "targets": targets,
            "servers": results,
        },
    }


def check_targets(figs: dict) -> list[dict]:
    out = []
    for description, ours, theirs, figure, op, bound, stretch in TARGETS:
        if ours not in figs or (theirs is not None and theirs not in figs):
            continue
        mine = figs[ours].get(figure)
        if theirs is None:
            other = SAMPLE_IMAGE_MB if figure == "image_mb" else 100.0  # share_c* is a percentage
        else:
            other = figs[theirs].get(figure)
        value = ratio(mine, other)
        if value is None:
            verdict, detail = "n/a", "not measured"
        else:
            ok = value >= bound if op == ">=" else value <= bound
            verdict = "PASS" if ok else "FAIL"
            if figure.startswith("share_"):
                detail = f"{mine:.0f}% (target {op} {100 * bound:.0f}%)"
            else:
                detail = f"{value:.2f} (target {op} {bound:g}; {mine:.4g} vs {other:.4g})"
        out.append(
            {
                "description": description,
                "ours": ours,
                "theirs": theirs,
                "figure": figure,
                "ratio": value,
                "bound": bound,
                "op": op,
                "stretch": stretch,
                "verdict": verdict,
                "detail": detail,
            }
        )
    return out
