"""gunicorn's entry point for the baseline (`gunicorn wsgi:app`)."""

from predictor import app

__all__ = ["app"]
