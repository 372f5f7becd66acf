# This repository's commands. A fresh machine needs only `make demo` or `make test`.
.PHONY: demo test test-fast example bench

demo:  ## render the default project, train it, serve it and predict (no AWS, no Docker)
	scripts/demo.sh

test:  ## every test: template, rendered projects (host and container), SDK local mode, push
	scripts/test.sh

test-fast:  ## the tests that need no Docker engine
	scripts/setup.sh
	.venv/bin/python -m pytest -m "not container"

example:  ## regenerate examples/decision_trees: cruft create of the committed template's defaults
	scripts/setup.sh
	scripts/example.sh

bench:  ## serving benchmark: ours vs the AWS sample's way, BentoML and MLflow (Docker, wrk)
	scripts/setup.sh
	.venv/bin/python bench/run.py
