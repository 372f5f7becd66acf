"""SageMaker's container contract for train and serve, written once for every model.

Part of the contract: not meant to be edited (your code goes in model.py and the files beside it,
in your folder; interface.py says what model.py must provide).
"""
