#!/usr/bin/env bash
# examples/decision_trees: the default project exactly as a user gets it, `cruft create` of this
# repository. cruft renders a commit, not a working tree, so the template must be committed
# first: the example's .cruft.json records that commit (the newest one to change the template),
# and its "template" is "../..", the repository root seen from the example (no absolute path).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
template_paths=(cookiecutter.json hooks templates local_extensions.py "{{cookiecutter.algorithm_name}}")
if ! git diff --quiet HEAD -- "${template_paths[@]}" \
    || [ -n "$(git ls-files --others --exclude-standard -- "${template_paths[@]}")" ]; then
    echo "make example: the template has uncommitted changes; commit them first (the example records the commit it is made from)" >&2
    exit 1
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
.venv/bin/cruft create --no-input --output-dir "$out" "$root" >/dev/null
.venv/bin/python - "$out/decision_trees/.cruft.json" <<'PY'
import json, sys
from cruft._commands.utils.cruft import json_dumps  # cruft's own format, as `cruft update` writes it

path = sys.argv[1]
state = json.load(open(path))
state["template"] = state["context"]["cookiecutter"]["_template"] = "../.."
open(path, "w").write(json_dumps(state))
PY
rm -rf examples/decision_trees
mv "$out/decision_trees" examples/decision_trees
echo "make example: examples/decision_trees from $(git rev-parse --short HEAD)"
