"""Handler of the test-only echo API: returns the body, or raises what it is asked to."""

from typing import Any

from framework import Conflict, UnprocessableContent


def echo(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("raise") == "conflict":
        raise Conflict("the operation is already running")
    if body.get("raise") == "unprocessable":
        raise UnprocessableContent("flavor has no vcpus")
    if body.get("raise") == "crash":
        raise RuntimeError("database password is hunter2-secret at /srv/nfvd/internal.py")
    return body
