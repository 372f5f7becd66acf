"""gunicorn's entry point (`gunicorn wsgi:app`): each worker imports it, loading the model."""

from predictor import app

__all__ = ["app"]
