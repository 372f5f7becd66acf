"""Time each tier of a rendered project's tests, as its user runs them: prints one line per project and tier.

    .venv/bin/python scripts/tier_times.py                      # make test and make test-all
    .venv/bin/python scripts/tier_times.py --tiers test         # make test alone
    .venv/bin/python scripts/tier_times.py --tiers test,test-all,test-container   # and the image's (Docker)

The projects: the default render (the iris tree), the scikit-learn Pipeline worked change applied
to a render, and an XGBoost render. A figure, never a check: timings here depend on the machine.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import render, tool_env  # noqa: E402 (the template's test helpers)
from test_worked_examples import apply, worked_changes  # noqa: E402


def projects(folder: Path) -> dict[str, Path]:
    pipeline = render(folder / "pipeline")
    for step in worked_changes(pipeline)["pipeline"]:
        apply(pipeline, pipeline.name, step)
    subprocess.run(["make", "docs", f"PYTHON={sys.executable}"], cwd=pipeline, env=tool_env(), check=True,
                   capture_output=True)  # fmt: skip  (the change's last step, as docs/your-model.md says)
    return {
        "scikit-learn (default)": render(folder / "default"),
        "scikit-learn Pipeline": pipeline,
        "xgboost": render(folder / "xgboost", framework="xgboost"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="test,test-all", help="make targets, comma-separated (default: %(default)s)")
    tiers = parser.parse_args().tiers.split(",")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="tier-times-") as folder:
        for name, project in projects(Path(folder)).items():
            for tier in tiers:
                started = time.monotonic()
                result = subprocess.run(["make", tier, f"PYTHON={sys.executable}"], cwd=project, env=tool_env(),
                                        capture_output=True, text=True)  # fmt: skip
                seconds = time.monotonic() - started
                last = (result.stdout.splitlines() or [""])[-1]  # pytest's summary line
                counts = re.findall(r"\d+ (?:passed|failed|errors?|skipped|deselected)", last)
                print(f"{name:24} make {tier:15} {seconds:7.1f} s  {', '.join(counts) or 'no pytest summary'}",
                      flush=True)  # fmt: skip
                failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
