"""gunicorn's entry point (`gunicorn wsgi:app`): each worker imports it, loading model.py and the model.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from contract.predictor import boot

app = boot()
