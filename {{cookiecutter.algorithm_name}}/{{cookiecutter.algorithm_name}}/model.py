# Yours: make update never changes this file (pyproject.toml's [tool.cruft] skip lists your files).
{% include "frameworks/" ~ cookiecutter.framework ~ "/model.py" %}