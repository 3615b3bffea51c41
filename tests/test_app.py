"""The app over real HTTP on loopback: problems, limits, probes, metrics, auth, TLS, logs."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from fixtures.kafka import free_port
from fixtures.servers import ThreadServer

from framework.logs import configure_logging

ECHO_SPEC = Path(__file__).with_name("echo.yaml")
PROBLEM = "application/problem+json"

Serve = Callable[..., ThreadServer]


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


@pytest.fixture
def server(serve: Serve, settings_factory: Callable[..., Any]) -> ThreadServer:
    return serve(settings_factory(max_body_bytes=4096), extra_specs=(ECHO_SPEC,))


def test_health_and_ready(server: ThreadServer) -> None:
    health = requests.get(server.url + "/health", timeout=5)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = requests.get(server.url + "/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready",
                            "checks": {"store": {"status": "ok"}, "kafka": {"status": "ok"}}}
    # what the probes of Ignition-based drivers' deployments ask
    report = requests.get(server.url + "/management/health", timeout=5)
    assert report.status_code == 200 and report.headers["content-type"] == "application/json"
    assert report.json() == {"vitals": {"app": {"status": "OK"}, "store": {"status": "OK"}}}


def test_ready_names_kafka_when_it_does_not_answer(serve: Serve,
                                                   settings_factory: Callable[..., Any]) -> None:
    closed = f"127.0.0.1:{free_port()}"
    server = serve(settings_factory(kafka_bootstrap_servers=closed))
    body = assert_problem(requests.get(server.url + "/ready", timeout=10), 503)
    assert body["checks"]["store"] == {"status": "ok"}
    assert body["checks"]["kafka"]["status"] == "failed"
    assert body["detail"].startswith("not ready: kafka: ")
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    # requests are still accepted and recorded without Kafka: not a vital of the report
    assert requests.get(server.url + "/management/health", timeout=5).status_code == 200


@pytest.mark.postgres
def test_ready_names_the_store_when_it_goes_away(
        serve: Serve, settings_factory: Callable[..., Any], postgres_server: Any) -> None:
    url = postgres_server.create_database()
    server = serve(settings_factory(database_url=url))
    assert requests.get(server.url + "/ready", timeout=5).status_code == 200
    postgres_server.drop_database(url)
    body = assert_problem(requests.get(server.url + "/ready", timeout=15), 503)
    assert body["checks"]["store"]["status"] == "failed"
    assert body["checks"]["kafka"] == {"status": "ok"}
    assert "store" in body["detail"]
    report = requests.get(server.url + "/management/health", timeout=15)
    assert report.status_code == 503
    assert report.json()["vitals"] == {"app": {"status": "OK"},
                                       "store": {"status": "UNHEALTHY"}}


@pytest.mark.parametrize("path", ["/api/lcm/operations", "/api/driver/lifecycle/execute"])
@pytest.mark.parametrize(("body", "detail"), [
    (b"[" * 1500 + b"]" * 1500, "nested more than 64 levels"),  # past Python's parser
    (b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}", "nested more than 64 levels"),
    (b'{"lifecycleName": "\xff"}', "not UTF-8"),
])
def test_a_body_the_json_parser_cannot_take_is_a_400(server: ThreadServer, path: str,
                                                     body: bytes, detail: str) -> None:
    # the driver API's fast path and connexion's own validation alike
    answer = requests.post(server.url + path, data=body,
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert detail in assert_problem(answer, 400)["detail"]


def test_unknown_path_is_404(server: ThreadServer) -> None:
    body = assert_problem(requests.get(server.url + "/no/such/thing", timeout=5), 404)
    assert "/no/such/thing" in body["detail"]


def test_wrong_method_is_405(server: ThreadServer) -> None:
    body = assert_problem(requests.delete(server.url + "/health", timeout=5), 405)
    assert "DELETE" in body["detail"]


def test_declared_body_over_the_limit_is_413(server: ThreadServer) -> None:
    body = assert_problem(requests.post(server.url + "/test/echo", data=b"{" + b" " * 5000 + b"}",
                                        headers={"content-type": "application/json"},
                                        timeout=5), 413)
    assert "4096 bytes" in body["detail"]


def test_streamed_body_over_the_limit_is_413(server: ThreadServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000  # chunked transfer: no Content-Length to check up front

    response = requests.post(server.url + "/test/echo", data=chunks(),
                             headers={"content-type": "application/json"}, timeout=5)
    assert_problem(response, 413)


def test_streamed_body_under_the_limit_is_replayed(server: ThreadServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": '
        yield b'"hello"}'

    response = requests.post(server.url + "/test/echo", data=chunks(),
                             headers={"content-type": "application/json"}, timeout=5)
    assert (response.status_code, response.json()) == (200, {"text": "hello"})


def test_malformed_json_is_400(server: ThreadServer) -> None:
    response = requests.post(server.url + "/test/echo", data=b'{"text": ',
                             headers={"content-type": "application/json"}, timeout=5)
    assert_problem(response, 400)


@pytest.mark.parametrize(("sent", "detail"), [
    ({"text": "s3cret is too long trick"}, "text: the value is too long"),
    ({"text": 5}, "text: the value is not of type 'string'"),
    ([1], "the value is not of type 'object'"),
])
def test_schema_violation_is_400_naming_the_field_not_the_value(
        server: ThreadServer, sent: Any, detail: str) -> None:
    response = requests.post(server.url + "/test/echo", json=sent, timeout=5)
    body = assert_problem(response, 400)
    assert body["detail"] == detail
    assert "s3cret" not in response.text and "Failed validating" not in response.text


def test_wrong_content_type_is_415(server: ThreadServer) -> None:
    response = requests.post(server.url + "/test/echo", data=b"text=1",
                             headers={"content-type": "text/plain"}, timeout=5)
    assert_problem(response, 415)


@pytest.mark.parametrize(("ask", "status", "detail"), [
    ("conflict", 409, "the operation is already running"),
    ("unprocessable", 422, "flavor has no vcpus"),
])
def test_framework_errors_render_as_problems(server: ThreadServer, ask: str, status: int,
                                             detail: str) -> None:
    response = requests.post(server.url + "/test/echo", json={"raise": ask}, timeout=5)
    assert assert_problem(response, status)["detail"] == detail


def test_500_leaks_nothing(server: ThreadServer, caplog: pytest.LogCaptureFixture) -> None:
    response = requests.post(server.url + "/test/echo", json={"raise": "crash"}, timeout=5)
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text and "internal.py" not in response.text
    assert "Traceback" not in response.text
    incident = body["incident"]
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback stays in the log


def test_plugins_endpoint(server: ThreadServer) -> None:
    response = requests.get(server.url + "/api/plugins", timeout=5)
    assert response.status_code == 200
    fake = [p for p in response.json()["plugins"] if p["name"] == "fake"]
    assert fake and fake[0]["status"] == "loaded"
    filtered = requests.get(server.url + "/api/plugins?status=failed", timeout=5).json()
    assert all(p["status"] == "failed" for p in filtered["plugins"])
    refused = assert_problem(requests.get(server.url + "/api/plugins?status=maybe", timeout=5),
                             400)
    assert refused["detail"] == "the value is not one of ['loaded', 'failed']"


def test_metrics_count_requests(server: ThreadServer) -> None:
    for _ in range(3):
        requests.get(server.url + "/health", timeout=5)
    requests.get(server.url + "/missing", timeout=5)
    response = requests.get(server.url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert ('nfvd_http_requests_total{method="GET",route="framework.api.system.health",'
            'status="200"} 3') in text
    assert 'nfvd_http_requests_total{method="GET",route="unmatched",status="404"} 1' in text
    assert "# TYPE nfvd_http_request_duration_seconds histogram" in text
    assert ('nfvd_http_request_duration_seconds_count{method="GET",'
            'route="framework.api.system.health"} 3') in text
    assert 'nfvd_plugins{group="nfvd.resource_drivers",status="loaded"}' in text


def test_request_id_is_returned(server: ThreadServer) -> None:
    given = requests.get(server.url + "/health", headers={"X-Request-ID": "abc-123"}, timeout=5)
    assert given.headers["x-request-id"] == "abc-123"
    generated = requests.get(server.url + "/health", timeout=5).headers["x-request-id"]
    assert len(generated) == 32


def test_swagger_ui_is_served(server: ThreadServer) -> None:
    for base in ("", "/api"):
        response = requests.get(server.url + base + "/ui/", timeout=5)
        assert response.status_code == 200
        assert "Swagger UI" in response.text


# -- authentication --------------------------------------------------------------------------

@pytest.fixture
def secured(serve: Serve, settings_factory: Callable[..., Any]) -> ThreadServer:
    hashed = "sha256:" + hashlib.sha256(b"bob-password").hexdigest()
    return serve(settings_factory(
        auth=("basic", "bearer"), auth_users={"alice": "alice-password", "bob": hashed},
        auth_tokens=("token-" + "a" * 20,)))


def test_auth_refuses_without_credentials(secured: ThreadServer) -> None:
    for path in ("/api/plugins", "/metrics"):
        response = requests.get(secured.url + path, timeout=5)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("auth", [("alice", "wrong"), ("mallory", "alice-password")])
def test_auth_refuses_wrong_credentials(secured: ThreadServer, auth: tuple[str, str]) -> None:
    assert_problem(requests.get(secured.url + "/api/plugins", auth=auth, timeout=5), 401)


def test_auth_accepts_basic_and_hashed_passwords(secured: ThreadServer) -> None:
    for auth in (("alice", "alice-password"), ("bob", "bob-password")):
        assert requests.get(secured.url + "/api/plugins", auth=auth, timeout=5).status_code == 200


def test_auth_accepts_bearer_tokens(secured: ThreadServer) -> None:
    good = {"Authorization": "Bearer token-" + "a" * 20}
    bad = {"Authorization": "Bearer token-" + "b" * 20}
    assert requests.get(secured.url + "/api/plugins", headers=good, timeout=5).status_code == 200
    assert_problem(requests.get(secured.url + "/api/plugins", headers=bad, timeout=5), 401)


def test_probes_stay_open_with_auth(secured: ThreadServer) -> None:
    assert requests.get(secured.url + "/health", timeout=5).status_code == 200
    assert requests.get(secured.url + "/ready", timeout=5).status_code == 200
    assert requests.get(secured.url + "/management/health", timeout=5).status_code == 200


def test_bearer_only_refuses_basic(serve: Serve, settings_factory: Callable[..., Any]) -> None:
    server = serve(settings_factory(auth=("bearer",), auth_tokens=("only-token",),
                                    auth_users={"alice": "alice-password"}))
    basic = requests.get(server.url + "/api/plugins", auth=("alice", "alice-password"), timeout=5)
    assert_problem(basic, 401)
    bearer = requests.get(server.url + "/api/plugins",
                          headers={"Authorization": "Bearer only-token"}, timeout=5)
    assert bearer.status_code == 200


# -- TLS -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("orchestrator.example")
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key",
             "client": folder / "client.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(paths["client"]))
    return {name: str(path) for name, path in paths.items()}


def test_tls(serve: Serve, settings_factory: Callable[..., Any], pki: dict[str, str]) -> None:
    server = serve(settings_factory(tls_cert=pki["cert"], tls_key=pki["key"]))
    assert server.url.startswith("https://")
    assert requests.get(server.url + "/health", verify=pki["ca"], timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/health", timeout=5)  # the system CAs do not know ours


def test_tls_client_certificates(serve: Serve, settings_factory: Callable[..., Any],
                                 pki: dict[str, str]) -> None:
    server = serve(settings_factory(tls_cert=pki["cert"], tls_key=pki["key"],
                                    tls_client_ca=pki["ca"]))
    with_cert = requests.get(server.url + "/health", verify=pki["ca"], cert=pki["client"],
                             timeout=5)
    assert with_cert.status_code == 200
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(server.url + "/health", verify=pki["ca"], timeout=5)
    server.stop()
    _close_refused_transports(server.settings.port)


def _close_refused_transports(port: int) -> None:
    """asyncio never closes the transport of a TLS handshake it refused, and uvicorn keeps a
    reference to it; close it here, or its ResourceWarning fails whichever test runs next."""
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.selector_events._SelectorTransport):  # type: ignore[attr-defined]
            sock = obj._sock
            if sock is not None and sock.fileno() != -1 and sock.getsockname()[1] == port:
                sock.close()
                obj._sock = None


# -- logs ------------------------------------------------------------------------------------

@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process log as nfvd serve configures it (JSON, secrets masked), into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("INFO", "json", secrets=["alice-password", "token-" + "a" * 20],
                      stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_one_json_line_per_request_with_secrets_masked(secured: ThreadServer,
                                                       json_log: io.StringIO) -> None:
    requests.get(secured.url + "/api/plugins?group=nfvd.resource_drivers&token=qs-secret-1",
                 auth=("alice", "alice-password"), timeout=5)
    requests.get(secured.url + "/api/plugins",
                 headers={"Authorization": "Bearer token-" + "a" * 20}, timeout=5)
    requests.get(secured.url + "/health", timeout=5)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "framework.access"]
    # strict validation refuses the unknown query parameter, and the refusal is logged too
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("GET", "/api/plugins", 400), ("GET", "/api/plugins", 200), ("GET", "/health", 200)]
    assert all({"time", "level", "request_id", "duration_ms", "route"} <= set(a) for a in access)
    assert "token=***" in access[0]["message"]
    text = json_log.getvalue()
    for secret in ("qs-secret-1", "alice-password", "token-" + "a" * 20):
        assert secret not in text


SERVED_COLLECTOR = """
import gc, json, logging
before = gc.get_threshold()
kept = ["made before the app"]  # an object of start-up: a list, tracked by the collector
from framework.app import create_served_app
create_served_app()
record = logging.getLogger("x").makeRecord("x", logging.INFO, "f.py", 7, "m", None, None)
logging.getLogger("x").handle(record)
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "kept_frozen": gc.is_tracked(kept)
                  and not any(kept is obj for obj in gc.get_objects()),
                  "lean": [logging._srcfile, record.threadName, record.processName]}))
"""


@pytest.mark.parametrize(("value", "first"), [(None, 10_000), ("4321", 4321), ("0", None)])
def test_served_app_keeps_start_up_out_of_collections(tmp_path: Path, value: str | None,
                                                      first: int | None) -> None:
    """In a fresh process, as each ``nfvd serve`` worker builds its app: what start-up made
    is frozen (no longer among the objects the collector walks) and young collections wait
    for ``gc_threshold`` new objects (0 leaves CPython's); log records skip the look-ups
    that no format of nfvd's shows."""
    env = {key: item for key, item in os.environ.items() if not key.startswith("NFVD_")}
    env["NFVD_DATABASE_URL"] = f"sqlite:///{tmp_path / 'nfvd.db'}"
    if value is not None:
        env["NFVD_GC_THRESHOLD"] = value
    done = subprocess.run([sys.executable, "-c", SERVED_COLLECTOR], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # 0 leaves the interpreter's own threshold (700 on CPython 3.11)
    assert seen["after"] == [first or seen["before"][0], *seen["before"][1:]]
    assert seen["frozen"] > 10_000  # modules, specs, plugins
    assert seen["kept_frozen"] is True
    assert seen["lean"] == [None, None, None]  # no caller, thread or process looked up
