"""gunicorn's entry point (`gunicorn contract.wsgi:app`): each worker imports it, loading model.py and the model.

Part of the contract: not meant to be edited (your code goes in model.py).
"""

from contract import paths
from contract.predictor import boot

paths.put_on_sys_path()
app = boot()
