"""Baseline predictor, written the simple way AWS's scikit_bring_your_own sample is.

- The model is unpickled on first use, so the first /ping pays for loading it.
- Each request body is parsed with pandas.read_csv, and the answer is written with
  pandas.DataFrame.to_csv, one prediction per line.
- Each request prints a line to the log.
One difference: the benchmark's tree predicts class codes, so the labels in model.json are
looked up, making the answers the same as those of the server it is compared with.
"""

import io
import json
import os
import pickle

import flask
import numpy as np
import pandas as pd

MODEL_DIR = os.path.join("/opt/ml", "model")


class ScoringService:
    model = None
    classes = None

    @classmethod
    def get_model(cls):
        if cls.model is None:
            with open(os.path.join(MODEL_DIR, "decision-tree-model.pkl"), "rb") as file:
                cls.model = pickle.load(file)
            with open(os.path.join(MODEL_DIR, "model.json")) as file:
                cls.classes = np.asarray(json.load(file)["classes"])
        return cls.model

    @classmethod
    def predict(cls, frame):
        model = cls.get_model()  # first: it also loads the labels
        return cls.classes[model.predict(frame)]


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    healthy = ScoringService.get_model() is not None
    return flask.Response(response="\n", status=200 if healthy else 404, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    if flask.request.content_type != "text/csv":
        return flask.Response(response="This predictor only supports CSV data", status=415, mimetype="text/plain")
    frame = pd.read_csv(io.StringIO(flask.request.data.decode("utf-8")), header=None)
    print(f"Invoked with {frame.shape[0]} records")
    predictions = ScoringService.predict(frame)
    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    return flask.Response(response=out.getvalue(), status=200, mimetype="text/csv")
