"""Every operation of every API served, sent malformed requests: each is answered with a 4xx
problem+json, never a 5xx. Found this way: a body nested past Python's JSON parser and one
sent without Content-Type were 500s."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests
from fixtures.servers import ThreadServer

from framework.app import served_specs
from framework.config import Settings

#: Bodies no operation accepts.
BODIES = [b"", b"[]", b'"x"', b"null", b"{", b"1e999", b"[" * 1500 + b"]" * 1500,
          b'{"x": "\xff"}', b'{"a": null, "b": [{}], "c": {"d": 1}}']
#: What stands in a path's parameters.
FILLS = ["x", "%00%2F..", "a" * 300]


def _operations() -> list[tuple[str, str]]:
    found = []
    for base, spec in served_specs().items():
        for path, item in spec["paths"].items():
            found += [(method, base.rstrip("/") + path) for method in item
                      if method in ("get", "post", "put", "patch", "delete")]
    return sorted(found)


@pytest.fixture
def server(serve: Callable[..., ThreadServer],
           settings_factory: Callable[..., Settings]) -> ThreadServer:
    # with an A&AI URL the registry's operations get as far as checking their bodies
    return serve(settings_factory(aai_url="http://127.0.0.1:9/aai"))


def test_malformed_requests_get_a_problem_and_never_a_5xx(server: ThreadServer) -> None:
    operations = _operations()
    assert len(operations) > 20  # every spec's, not an empty sweep
    answered = 0
    for method, path in operations:
        for fill in FILLS:
            url = server.url + re.sub(r"\{[^}]+\}", fill, path)
            bodies = BODIES if method in ("post", "put", "patch") else [b""]
            for body in bodies:
                for content_type in ("application/json", None):
                    headers = {"Content-Type": content_type} if content_type else {}
                    answer = requests.request(method.upper(), url, data=body,
                                              headers=headers, timeout=15)
                    where = f"{method.upper()} {url[:120]} {body[:30]!r} {content_type}"
                    assert answer.status_code < 500, f"{where}: {answer.text[:300]}"
                    if answer.status_code >= 400:
                        assert answer.headers["content-type"] == "application/problem+json", where
                    answered += 1
    assert answered > 500
