"""SageMaker's container contract for train and serve, written once for every model.

Not meant to be edited: your code goes in model.py and hyperparameters.json beside this
package; interface.py says what model.py must provide.
"""
