import subprocess, sys, time, importlib.metadata as md, json, os
import numpy as np
py = sys.executable
def import_ms(mod):
    best = 1e9
    for _ in range(5):
        t = subprocess.run([py, "-c", f"import time; t=time.perf_counter(); import {mod}; print(time.perf_counter()-t)"], capture_output=True, text=True)
        best = min(best, float(t.stdout))
    return best * 1000
def size_mb(dists):
    total = 0
    for d in dists:
        for f in md.distribution(d).files or []:
            p = f.locate()
            if os.path.isfile(p): total += os.path.getsize(p)
    return total / 1e6
rng = np.random.default_rng(0)
def data(n):
    return {"tenure": rng.integers(1, 72, n).astype(float), "charges": rng.normal(50, 10, n),
            "plan": [["basic", "standard", "premium"][i] for i in rng.integers(0, 3, n)],
            "state": [["CA", "NY", "TX"][i] for i in rng.integers(0, 3, n)]}
cats = {"plan": ["basic", "premium", "standard"], "state": ["CA", "NY", "TX"]}
import pandas as pd, polars as pl, pyarrow as pa
def build_pd(d): return pd.DataFrame({"tenure": d["tenure"], "charges": d["charges"], **{k: pd.Categorical(d[k], categories=cats[k]) for k in cats}})
def build_pl(d): return pl.DataFrame({"tenure": d["tenure"], "charges": d["charges"], **{k: pl.Series(k, d[k], dtype=pl.Enum(cats[k])) for k in cats}})
def build_pa(d): return pa.table({"tenure": d["tenure"], "charges": d["charges"], **{k: pa.array(d[k]).dictionary_encode() for k in cats}})
def us(f, d, reps=200):
    t = time.perf_counter()
    for _ in range(reps): f(d)
    return (time.perf_counter() - t) / reps * 1e6
out = {}
for name, f, mod, dists in [("pandas", build_pd, "pandas", ["pandas", "python-dateutil", "six"]), ("polars", build_pl, "polars", ["polars", "polars-runtime-32"]), ("pyarrow", build_pa, "pyarrow", ["pyarrow"])]:
    out[name] = {"import_ms": round(import_ms(mod)), "1_row_us": round(us(f, data(1))), "1000_rows_us": round(us(f, data(1000))),
                 "installed_MB": round(size_mb([d for d in dists if d in {x.metadata['Name'].lower() for x in md.distributions()}]), 1)}
# acceptance by name
n = 300; d = data(n); y = (d["tenure"] < 30).astype(int)
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import HistGradientBoostingClassifier
import xgboost, lightgbm
def run_case(X, case):
    if case.startswith("sklearn"):
        make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["plan", "state"])], remainder=StandardScaler()), LogisticRegression()).fit(X, y).predict(X)
    elif case.startswith("Hist"):
        HistGradientBoostingClassifier(categorical_features=["plan", "state"], max_iter=5).fit(X, y).predict(X)
    elif case.startswith("xgboost"):
        b = xgboost.train({"tree_method": "hist"}, xgboost.DMatrix(X, label=y, enable_categorical=True), 3); b.inplace_predict(X)
        return "yes" if "c" in b.feature_types else "trained, no categorical"
    else:
        b = lightgbm.train({"verbosity": -1}, lightgbm.Dataset(X, label=y), 3); b.predict(X)
        return "yes" if b.pandas_categorical or "categorical_feature" in str(b.model_to_string()[:3000]) else "trained, categorical unclear"
    return "yes"
def tries(X, case):
    try:
        return {case: run_case(X, case)}
    except Exception as e:
        return {case: f"no ({type(e).__name__}: {str(e)[:90]})"}
if len(sys.argv) > 2:
    lib, case = sys.argv[1], sys.argv[2]
    X = {"pandas": build_pd, "polars": build_pl, "pyarrow": build_pa}[lib](d)
    import io, contextlib
    r = tries(X, case)
    print(json.dumps(r.get(case))); sys.exit()
cases = ["sklearn ColumnTransformer by name", "HistGradientBoosting categorical_features by name", "xgboost DMatrix enable_categorical + inplace_predict", "lightgbm Dataset categorical (auto)"]
for name in ("pandas", "polars", "pyarrow"):
    out[name]["accepted"] = {}
    for case in cases:
        r = subprocess.run([py, __file__, name, case], capture_output=True, text=True)
        lines = [l for l in r.stdout.splitlines() if l.startswith('"')]
        out[name]["accepted"][case] = json.loads(lines[-1]) if r.returncode == 0 and lines else f"no: the process died ({(r.stderr.strip().splitlines() or ['?'])[-1][:80]})"
print(json.dumps(out, indent=1))
