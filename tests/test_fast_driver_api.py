"""The fast path of the resource driver API answers exactly as connexion does.

The same requests, good and bad, go to a server with the fast path and to one without it
(``create_app(fast_path=False)``): status, the headers a client reads and the bodies must be
the same, the ids each server makes up aside.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from connexion.json_schema import Draft4RequestValidator, resolve_refs
from fixtures.brent import EXECUTE, FIND, ExecutionEvents, execute_body
from fixtures.servers import ThreadServer

from framework.app import _base_path, create_app, load_specs, served_specs
from framework.cli import uvicorn_options
from framework.config import Settings
from framework.web.fast import routes
from framework.web.security import Authenticator

DRIVER = "/drivers/fake"


class ConnexionServer(ThreadServer):
    """A test server whose every request goes through connexion."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.app = create_app(settings, self.runtime, fast_path=False)
        self.server = uvicorn.Server(uvicorn.Config(self.app, **uvicorn_options(settings)))
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture
def pair(settings_factory: Callable[..., Settings],
         tmp_path: Path) -> Iterator[Callable[..., tuple[ThreadServer, ThreadServer]]]:
    """Starts a server with the fast path and one without, on stores of their own."""
    started: list[ThreadServer] = []

    def start(**changes: Any) -> tuple[ThreadServer, ThreadServer]:
        fast = ThreadServer(settings_factory(
            database_url=f"sqlite:///{tmp_path / 'fast.db'}", **changes)).start()
        started.append(fast)
        slow = ConnexionServer(settings_factory(
            database_url=f"sqlite:///{tmp_path / 'slow.db'}", **changes)).start()
        started.append(slow)
        return fast, slow

    yield start
    for server in started:
        server.stop()


def _send(server: ThreadServer, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.url + path, data=data, headers=headers, timeout=10)


def _seen(response: requests.Response) -> tuple[int, dict[str, str | None], Any]:
    """What a client reads from an answer, with the id made up by the server blanked."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and "requestId" in body:
        body = {**body, "requestId": "<id>"}
    if isinstance(body, dict) and "incident" in body:
        body = {**body, "incident": "<id>", "detail": "<incident>"}
    headers = {name: response.headers.get(name)
               for name in ("content-type", "tenantId", "WWW-Authenticate")}
    headers["x-request-id"] = "present" if response.headers.get("x-request-id") else None
    return response.status_code, headers, body


def _same(fast: ThreadServer, slow: ThreadServer, path: str, body: Any,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str | None], Any]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    seen = _seen(_send(fast, path, body, sent))
    assert seen == _seen(_send(slow, path, body, sent)), (path, body, headers)
    return seen


def _find(body: dict[str, Any], name: str = "nothing-here") -> dict[str, Any]:
    return {"instanceName": name, "driverFiles": body["driverFiles"],
            "deploymentLocation": body["deploymentLocation"]}


BAD_CHANGES = [
    {"lifecycleName": None}, {"lifecycleName": 5}, {"lifecycleName": ""},
    {"driverFiles": None}, {"driverFiles": 7},
    {"deploymentLocation": {"type": "Fake"}}, {"deploymentLocation": {"name": "x", "type": 4}},
    {"systemProperties": {"p": {"value": "no type"}}}, {"systemProperties": []},
    {"requestProperties": {"k": {"type": "key", "keyName": "k"}}},
    {"resourceProperties": {"p": {"type": ""}}},
    {"associatedTopology": {"vm": {"id": 5, "type": "VM"}}},
    {"associatedTopology": {"vm": {"type": "VM"}}},
    {"deploymentLocation": {"name": "lab", "type": "Nope"}},
    {"driverFiles": base64.b64encode(b"not a zip").decode()},
    {"driverFiles": "%%%"},
]


def test_good_and_bad_requests_are_answered_alike(
        pair: Callable[..., tuple[ThreadServer, ThreadServer]],
        events: ExecutionEvents) -> None:
    fast, slow = pair()
    body = execute_body("Start", requestProperties={"bare": "text", "gone": None, "key": {
        "type": "key", "keyName": "k", "privateKey": "p"}})
    status, headers, accepted = _same(fast, slow, EXECUTE, body, {"tenantId": "t-9"})
    assert (status, headers["tenantId"], accepted["version"]) == (202, "t-9", "1.0.0")
    assert _same(fast, slow, DRIVER + EXECUTE, body)[0] == 202
    assert _same(fast, slow, EXECUTE, body,
                 {"Content-Type": "application/json; charset=utf-8"})[0] == 202
    for change in BAD_CHANGES:
        bad = {k: v for k, v in {**body, **change}.items() if v is not None}
        assert _same(fast, slow, EXECUTE, bad)[0] == 400, change
    assert _same(fast, slow, "/drivers/nope" + EXECUTE, body)[0] == 404
    for raw in (b"{bad", b"", b"null", b"[]"):
        assert _same(fast, slow, EXECUTE, raw)[0] == 400, raw
    for raw in (b"\xff\xfe{}", json.dumps(body).encode("utf-16")):
        _same(fast, slow, EXECUTE, raw)  # not UTF-8: whatever connexion answers
    assert _same(fast, slow, EXECUTE, body, {"Content-Type": "text/plain"})[0] == 415
    assert _same(fast, slow, EXECUTE + "?x=1", body)[0] == 400
    for tenant in ("", "t" * 256):
        assert _same(fast, slow, EXECUTE, body, {"tenantId": tenant})[0] == 400
    assert _same(fast, slow, FIND, _find(body), {"tenantId": "t-9"})[1]["tenantId"] == "t-9"
    assert _same(fast, slow, DRIVER + FIND, _find(body))[2] == {"result": None}
    assert _same(fast, slow, FIND, {**_find(body), "instanceName": ""})[0] == 400
    assert _same(fast, slow, FIND, {**_find(body), "driverFiles": "%%%"})[0] == 400
    # what the fast path accepted runs and completes as the rest does
    request_id = _send(fast, EXECUTE, body, {"Content-Type": "application/json"}).json()[
        "requestId"]
    assert events.terminal(request_id)["status"] == "COMPLETE"


def test_body_limits_and_auth_are_connexions(
        pair: Callable[..., tuple[ThreadServer, ThreadServer]]) -> None:
    fast, slow = pair(max_body_bytes=4096, driver_files_max_bytes=2048, auth=("bearer",),
                      auth_tokens=("s3cret",))
    body = execute_body("Start")
    assert _same(fast, slow, EXECUTE, body)[0] == 401
    assert _same(fast, slow, EXECUTE, body, {"Authorization": "Bearer nope"})[0] == 401
    signed = {"Authorization": "Bearer s3cret"}
    assert _same(fast, slow, EXECUTE, body, signed)[0] == 202
    large = execute_body("Start", files={"blob": os.urandom(3000)})
    assert _same(fast, slow, EXECUTE, large, signed)[0] in (400, 413)
    huge = {**body, "padding": "x" * 20000}
    assert _same(fast, slow, EXECUTE, huge, signed)[0] == 413


def test_the_fast_path_serves_the_two_operations_and_counts_them(
        pair: Callable[..., tuple[ThreadServer, ThreadServer]]) -> None:
    apis = [(_base_path(spec), spec) for spec in served_specs().values()]
    off = Authenticator(Settings())
    served = routes((base, off.apply(copy.deepcopy(spec))) for base, spec in apis)
    assert {path: route.operation_id for path, route in served.items()} == {
        "/api/driver/lifecycle/execute": "framework.api.resource_driver.execute_lifecycle",
        "/api/driver/references/find": "framework.api.resource_driver.find_reference"}
    on = Authenticator(Settings(auth=("basic",), auth_users={"u": "p"}))
    assert routes((base, on.apply(copy.deepcopy(spec))) for base, spec in apis) == {}
    fast, _slow = pair()
    assert _send(fast, EXECUTE, execute_body("Start"),
                 {"Content-Type": "application/json"}).status_code == 202
    metrics = requests.get(fast.url + "/metrics", timeout=5).text
    assert ('route="framework.api.resource_driver.execute_lifecycle",status="202"'
            in metrics.replace('method="POST",', ""))


def _mutations(base: Any, rng: random.Random) -> Iterator[Any]:
    pool = [None, "", "key", "x" * 256, 5, 5.5, True, [], [1, "a"], {}, {"type": "key"},
            {"type": "key", "privateKey": "p"}, {"type": "string", "value": "v"}, {"type": ""},
            {"type": 3}, {"id": "a", "type": "b"}, {"id": 5, "type": "b"}, {"name": "n"},
            {"name": ""}, {"value": "no type"}]

    def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        yield at
        items = value.items() if isinstance(value, dict) else \
            enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            yield from paths(item, (*at, key))

    while True:
        body = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.choice([p for p in paths(body) if p])
            parent = body
            for key in at[:-1]:
                parent = parent[key]
            roll = rng.random()
            if roll < 0.2 and isinstance(parent, dict):
                del parent[at[-1]]
            elif roll < 0.35 and isinstance(parent, dict):
                parent[f"extra{rng.randint(0, 3)}"] = copy.deepcopy(rng.choice(pool))
            else:
                parent[at[-1]] = copy.deepcopy(rng.choice(pool))
        yield body


@pytest.mark.parametrize("schema", ["LifecycleExecutionRequest", "FindReferenceRequest"])
def test_the_compiled_check_agrees_with_connexions_validator(schema: str) -> None:
    spec = load_specs()["resource-driver.yaml"]
    route = {r.operation_id.rsplit(".", 1)[1]: r for r in routes(
        [("/api/driver", Authenticator(Settings()).apply(copy.deepcopy(spec)))]).values()}
    check = route["execute_lifecycle" if schema.startswith("Lifecycle") else
                  "find_reference"].body
    validator = Draft4RequestValidator(
        resolve_refs(copy.deepcopy(spec))["components"]["schemas"][schema])
    base = execute_body(requestProperties={"k": {"type": "key", "privateKey": "x"},
                                           "bare": "text", "null": None},
                        associatedTopology={"vm": {"id": "1", "type": "VM"}, "gone": None}) \
        if schema.startswith("Lifecycle") else _find(execute_body())
    bodies = _mutations(base, random.Random(8))
    verdicts = [(check(body), validator.is_valid(body), body)
                for body, _ in zip(bodies, range(3000), strict=False)]
    assert [body for fast, slow, body in verdicts if fast != slow] == []
    assert {slow for _, slow, _ in verdicts} == {True, False}
