"""The generated tables of docs/, written by `make docs` from the code's own declarations.

docs/hyperparameters.md gets its table from hyperparameters.json (hyperparameters.readme_table),
docs/environment.md from the ENVIRONMENT declared by each contract module that reads settings,
docs/errors.md from the error sentences where the code raises them (and nginx.conf returns them),
so the pages say what the code does; the project's tests fail when a page is stale.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

import ast
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (make docs): the folder holding contract/ is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract import hyperparameters  # noqa: E402 (after the import root above)

HERE = Path(__file__).resolve().parent
ENVIRONMENT_START = "<!-- environment: written by `make docs` from each contract module's ENVIRONMENT -->"
ENVIRONMENT_END = "<!-- end of environment -->"
REQUESTS_START = "<!-- requests: written by `make docs` from the contract's error sentences -->"
REQUESTS_END = "<!-- end of requests -->"
JOBS_START = "<!-- jobs: written by `make docs` from the contract's error sentences -->"
JOBS_END = "<!-- end of jobs -->"
# The modules that answer requests; a sentence raised anywhere else fails a training job.
SERVING = {"predictor.py", "payloads.py", "tables.py", "model_store.py", "decimal_csv.py"}
# How the predictor answers the errors that carry no status of their own: a body it cannot decode
# (PayloadError, CellError: 400), a model that cannot load (/ping 503), model.py's predict
# breaking its promise (500).
ANSWERED = {"PayloadError": "400", "CellError": "400", "ModelLoadError": "503", "PredictionError": "500"}


def environment(left_out: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """Every declared setting, name -> (default, effect), but those of the modules left out."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.name in left_out:
            continue
        constants: dict[str, object] = {}  # the module's literal constants, which ENVIRONMENT may name
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # read, not imported: stdlib only
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                continue
            if node.targets[0].id == "ENVIRONMENT":
                found.update(eval(compile(ast.Expression(node.value), path.name, "eval"), {"str": str}, constants))
            else:
                try:
                    constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return found


def environment_table(left_out: tuple[str, ...] = ()) -> str:
    rows = ["| variable | default | effect |", "|---|---|---|"]
    for name, (default, effect) in environment(left_out).items():
        rows.append(f"| `{name}` | {default} | {effect} |")
    return "\n".join(rows)


def sentence(node: ast.expr) -> str | None:
    """A message as written, each value filled in at run time shown as …; None if not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "a" + "b", f"..." + "..."
        left, right = sentence(node.left), sentence(node.right)
        return left + right if left is not None and right is not None else None
    return None


def errors(left_out: tuple[str, ...] = ()) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(status, sentence, file) of every error a request can get; (sentence, file) of every reason
    a training job can fail with. From each raise or error() with a literal message."""
    files = [path for path in sorted(HERE.glob("*.py")) if path.name not in left_out]
    sources = {path.name: ast.parse(path.read_text(encoding="utf-8")) for path in files}
    statuses = dict(ANSWERED)  # and the error classes that declare their own status (model_store's)
    for tree in sources.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == "status":
                        statuses[node.name] = str(item.value.value)
    requests, jobs = [], []
    for name, tree in sources.items():
        for node in ast.walk(tree):
            call = node.exc if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) else node
            if not isinstance(call, ast.Call) or not call.args:
                continue
            kind = getattr(call.func, "id", None) or getattr(call.func, "attr", "")
            if kind == "error" and isinstance(call.args[0], ast.Constant) and len(call.args) > 1:
                text, status = sentence(call.args[1]), str(call.args[0].value)
            elif isinstance(node, ast.Raise):
                text = sentence(call.args[0])
                status = statuses.get(kind)
                if kind == "RequestError":
                    given = call.args[1] if len(call.args) > 1 else None
                    status = str(given.value) if isinstance(given, ast.Constant) else "400"
            else:
                continue
            if not text:
                continue
            if status and (name in SERVING or kind in ANSWERED or kind == "error"):
                requests.append((status, text, f"contract/{name}"))
            elif isinstance(node, ast.Raise) and name not in SERVING and kind not in ("RequestError", "SettingError"):
                jobs.append((text, f"contract/{name}"))
    nginx = (HERE / "nginx.conf").read_text(encoding="utf-8")
    for status, text in re.findall(r"return (\d{3}) '\{\"error\": \"(.*?)\"\}'", nginx):
        requests.append((status, text.replace("@MAX_BODY_MB@", "…").replace("@TIMEOUT@", "…"), "contract/nginx.conf"))
    return sorted(set(requests)), sorted(set(jobs), key=lambda job: (job[1], job[0]))


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def errors_tables(left_out: tuple[str, ...] = ()) -> tuple[str, str]:
    requests, jobs = errors(left_out)
    request_rows = ["| status | the answer's `error` | raised in |", "|---|---|---|"]
    request_rows += [f"| {status} | {cell(text)} | `{where}` |" for status, text, where in requests]
    job_rows = ["| the job's `FailureReason` | raised in |", "|---|---|"]
    job_rows += [f"| {cell(text)} | `{where}` |" for text, where in jobs]
    return "\n".join(request_rows), "\n".join(job_rows)


def between(text: str, start: str, end: str, table: str) -> str:
    """text with what lies between the start and end lines replaced by table."""
    head, tail = text.index(start) + len(start), text.index(end)
    return text[:head] + "\n" + table + "\n" + text[tail:]


def generated(docs: Path) -> dict[Path, str]:
    """Each generated page with its tables as the code declares them now."""
    hyper, env, errs = docs / "hyperparameters.md", docs / "environment.md", docs / "errors.md"
    requests, jobs = errors_tables()
    errors_page = between(errs.read_text(encoding="utf-8"), REQUESTS_START, REQUESTS_END, requests)
    return {
        hyper: hyperparameters.with_readme_table(hyper.read_text(encoding="utf-8"), hyperparameters.load_schema()),
        env: between(env.read_text(encoding="utf-8"), ENVIRONMENT_START, ENVIRONMENT_END, environment_table()),
        errs: between(errors_page, JOBS_START, JOBS_END, jobs),
    }


if __name__ == "__main__":  # make docs: python contract/docs.py docs
    for page, text in generated(Path(sys.argv[1])).items():
        page.write_text(text, encoding="utf-8")
