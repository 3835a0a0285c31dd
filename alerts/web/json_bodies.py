"""Reading a JSON request body, the same way on every route that takes one.

Flask's `request.get_json(silent=True)` answers None for a body that is not JSON, but lets
the parser's RecursionError through for one nested deeper than it goes: ten kilobytes of
"[" would be a 500. Every JSON route reads its body here instead, so a body that cannot be
read, is nested too deep or is not an object is a 400 in the usual error shape (BadInput,
answered by alerts.web.errors).
"""

from __future__ import annotations

from typing import Any

from flask import request

from alerts.errors import BadInput


def json_body() -> Any:
    """The request's parsed JSON; None when it is not JSON or is nested too deep to read."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def json_object(message: str) -> dict[str, Any]:
    """The request's JSON object. Raises BadInput (a 400) with `message` when it is not one."""
    data = json_body()
    if not isinstance(data, dict):
        raise BadInput(message)
    return data
