"""The sagemaker-runtime API's error answers, as the local front door (front.py) and its multi-model
host (multimodel_host.py) give them: a code, an HTTP status and the body's members."""

from __future__ import annotations

from typing import Any


class FrontError(Exception):
    """An error answer of the sagemaker-runtime API: its code, HTTP status and body members."""

    def __init__(self, code: str, status: int, message: str, **members: Any):
        super().__init__(message)
        self.code, self.status, self.message, self.members = code, status, message, members


def validation(message: str) -> FrontError:
    return FrontError("ValidationError", 400, message)
