"""The SOL 002 coordination client over real loopback HTTP(S): against the reference server,
and against tiny raw servers for what the reference server never does."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from framework.coordination.auth import TOKENS
from framework.coordination.certs import find_client_cert, thumbprint
from framework.coordination.client import (
    DEFAULT_DELAY,
    MIN_DELAY,
    ClientTls,
    CoordinationError,
    CoordinationTimeout,
    coordinate,
    parse_retry_after,
    retry_delay,
)
from framework.coordination.server import (
    CoordinationConflict,
    CoordinationRejected,
    CoordinationServer,
    ServerOptions,
)

REQUEST: dict[str, Any] = {
    "vnfInstanceId": "vnf-1", "vnfLcmOpOccId": "op-1", "lcmOperationType": "CHANGE_VNFPKG",
    "coordinationActionName": "prv.nfvd.drain", "inputParams": {"vnfcInstanceId": "vnfc-7"},
    "_links": {"vnfLcmOpOcc": {"href": "http://vnfm.test/vnflcm/v2/vnf_lcm_op_occs/op-1"},
               "vnfInstance": {"href": "http://vnfm.test/vnflcm/v2/vnf_instances/vnf-1"}},
}
PASSWORD = "pw-Basic-4d1f9a"
CLIENT_SECRET = "secret-Oauth-7c2e0b"
Reply = tuple[int, dict[str, str], bytes]


class Sleeps(list[float]):
    """An injected sleep: records each delay asked for and waits only a moment."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate directory."""
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(root / "server.crt"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    certs = root / "client-certs"
    certs.mkdir()
    client, other = ca.issue_cert("vnfm-client"), ca.issue_cert("someone-else")
    client.cert_chain_pems[0].write_to_path(str(certs / "vnfm.crt"))
    client.private_key_pem.write_to_path(str(certs / "vnfm.key"))
    (certs / "other.pem").write_bytes(other.private_key_pem.bytes()
                                      + other.cert_chain_pems[0].bytes())
    (certs / "README.txt").write_text("not a certificate")
    return {"root": root, "ca": str(root / "ca.pem"), "certs": str(certs),
            "client_pem": client.cert_chain_pems[0].bytes(),
            "other_pem": other.cert_chain_pems[0].bytes(),
            "server": {"certfile": str(root / "server.crt"), "keyfile": str(root / "server.key")}}


def lcm_coord(result: str = "CONTINUE", **extra: Any) -> dict[str, Any]:
    body = {key: REQUEST[key] for key in ("vnfInstanceId", "vnfLcmOpOccId", "lcmOperationType",
                                          "coordinationActionName")}
    links = {**REQUEST["_links"], "self": {"href": "http://em.test/lcmcoord/v1/coordinations/c-1"}}
    return {"id": "c-1", **body, "coordinationResult": result, "_links": links, **extra}


@contextlib.contextmanager
def raw_server(reply: Callable[[str, str, int], Reply]) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server whose every answer comes from ``reply(method, path, nth)``."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(f"{self.command} {self.path}")
            status, headers, body = reply(self.command, self.path, len(seen))
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def serving(options: ServerOptions) -> Iterator[CoordinationServer]:
    """The reference server, started and then stopped."""
    server = CoordinationServer(options).start()
    try:
        yield server
    finally:
        server.stop()


def as_json(body: Any) -> bytes:
    return json.dumps(body).encode()


# --- modes -------------------------------------------------------------------------------

def test_sync_result_with_version_header() -> None:
    with serving(ServerOptions(mode="sync")) as server:
        result = coordinate(server.url, REQUEST, timeout=10)
        received = server.requests
    assert result["coordinationResult"] == "CONTINUE" and result["id"]
    assert result["vnfInstanceId"] == "vnf-1"
    assert received[0].body == REQUEST
    assert received[0].headers["version"] == "1.0.0"
    assert received[0].headers["content-type"] == "application/json"
    assert received[0].headers["accept"] == "application/json"


def test_async_polls_until_the_result() -> None:
    sleeps = Sleeps()
    with serving(ServerOptions(mode="async", polls=2, retry_after="1")) as server:
        result = coordinate(server.url + "/lcmcoord/v1/", REQUEST, timeout=10, sleep=sleeps)
    assert result["coordinationResult"] == "CONTINUE"
    assert sleeps == [1.0, 1.0, 1.0]  # after the 202 of the POST, then after each 202 GET


def test_busy_503_sends_the_request_again() -> None:
    sleeps = Sleeps()
    with serving(ServerOptions(busy=2, retry_after="2")) as server:
        result = coordinate(server.url, REQUEST, timeout=10, sleep=sleeps)
        assert len(server.requests) == 3
    assert result["coordinationResult"] == "CONTINUE"
    assert sleeps == [2.0, 2.0]


def test_retry_after_as_an_http_date() -> None:
    sleeps = Sleeps()
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    with serving(ServerOptions(mode="async", polls=1, retry_after=when)) as server:
        assert coordinate(server.url, REQUEST, timeout=10, sleep=sleeps)["id"]
    assert len(sleeps) == 2 and all(MIN_DELAY <= s <= 3.0 for s in sleeps)


def test_abort_and_decisions_are_returned_whole() -> None:
    with serving(ServerOptions(result="ABORT")) as server:
        result = coordinate(server.url, REQUEST, timeout=10)
    assert result["coordinationResult"] == "ABORT" and result["error"]["title"]

    decision = {"coordinationResult": "CONTINUE", "outputParams": {"drained": 12},
                "warnings": "slow drain"}
    with serving(ServerOptions(decide=lambda request: decision)) as server:
        result = coordinate(server.url, REQUEST, timeout=10)
    assert {key: result[key] for key in decision} == decision


def test_a_cancelled_result_is_returned_whole() -> None:
    cancelled = lcm_coord("CANCELLED", error={"title": "Cancelled", "detail": "by the OSS"},
                          warnings="cancelled while draining")

    def reply(method: str, path: str, nth: int) -> Reply:
        if method == "POST":
            return 202, {"Location": "/lcmcoord/v1/coordinations/c-1"}, b""
        return 200, {"Content-Type": "application/json"}, as_json(cancelled)

    with raw_server(reply) as (url, seen):
        assert coordinate(url, REQUEST, timeout=10, sleep=Sleeps()) == cancelled
    assert seen == ["POST /lcmcoord/v1/coordinations", "GET /lcmcoord/v1/coordinations/c-1"]


def test_503_while_polling_is_retried() -> None:
    sleeps = Sleeps()
    answers: list[Reply] = [
        (202, {"Location": "coordinations/c-1", "Retry-After": "garbage"}, b""),
        (503, {"Retry-After": "-5"}, b""),
        (202, {"Retry-After": "2"}, b""),
        (200, {"Content-Type": "application/json"}, as_json(lcm_coord("ABORT"))),
    ]
    with raw_server(lambda method, path, nth: answers[nth - 1]) as (url, seen):
        assert coordinate(url, REQUEST, timeout=10, sleep=sleeps) == lcm_coord("ABORT")
    assert seen[1:] == ["GET /lcmcoord/v1/coordinations/c-1"] * 3
    assert sleeps == [DEFAULT_DELAY, DEFAULT_DELAY, 2.0]


def test_a_long_retry_after_is_capped_by_the_time_left() -> None:
    sleeps = Sleeps()
    answers: list[Reply] = [
        (202, {"Location": "/lcmcoord/v1/coordinations/c-1", "Retry-After": "3600"}, b""),
        (200, {"Content-Type": "application/json"}, as_json(lcm_coord())),
    ]
    with raw_server(lambda method, path, nth: answers[nth - 1]) as (url, _):
        assert coordinate(url, REQUEST, timeout=5, sleep=sleeps) == lcm_coord()
    assert len(sleeps) == 1 and sleeps[0] < 5


@pytest.mark.parametrize(("endpoint", "timeout", "said"), [
    ("ftp://127.0.0.1/", 10, "endpoint: expected an http:// or https:// URL"),
    ("http://vnfm:" + PASSWORD + "@127.0.0.1:9", 10, "endpoint: must not hold credentials"),
    ("http://127.0.0.1:9", 0, "timeout: expected a positive number"),
])
def test_unusable_arguments(endpoint: str, timeout: float, said: str) -> None:
    with pytest.raises(CoordinationError) as caught:
        coordinate(endpoint, REQUEST, timeout=timeout)
    assert said in str(caught.value) and PASSWORD not in str(caught.value)


def test_timeout_cancels_the_accepted_coordination() -> None:
    with serving(ServerOptions(mode="async", polls=10**6, retry_after="0")) as server:
        with pytest.raises(CoordinationTimeout) as caught:
            coordinate(server.url, REQUEST, timeout=1.5)
        coordination_id = caught.value.coordination_id
        assert coordination_id
        message = str(caught.value)
        assert "within 1.5 s" in message
        assert f"cancellation of coordination {coordination_id} requested" in message
        after = requests.get(f"{server.url}/lcmcoord/v1/coordinations/{coordination_id}",
                             headers={"Version": "1.0.0"}, timeout=5)
    assert after.json()["coordinationResult"] == "CANCELLED"


def test_a_server_that_never_answers_is_bounded_by_the_timeout() -> None:
    with silent_server() as url, pytest.raises(CoordinationTimeout) as caught:
        coordinate(url, REQUEST, timeout=0.5)
    assert "within 0.5 s" in str(caught.value) and "nothing to cancel" in str(caught.value)
    assert caught.value.coordination_id is None


def test_retry_after_zero_is_not_a_tight_loop() -> None:
    with serving(ServerOptions(busy=10**6, retry_after="0")) as server:
        with pytest.raises(CoordinationTimeout, match="last answer: HTTP 503"):
            coordinate(server.url, REQUEST, timeout=1.0)
        # one request, then one every MIN_DELAY at most, and a last one before the deadline
        assert 1 <= len(server.requests) <= 2 + 1.0 / MIN_DELAY


# --- refusals and broken answers ---------------------------------------------------------

@pytest.mark.parametrize(("error", "status"), [
    (CoordinationRejected("the EM is in a maintenance window"), 403),
    (CoordinationConflict("another coordination of vnf-1 is running"), 409),
])
def test_refusal_names_status_and_detail(error: Exception, status: int) -> None:
    def refuse(request: dict[str, Any]) -> str:
        raise error

    with serving(ServerOptions(decide=refuse)) as server:
        with pytest.raises(CoordinationError) as caught:
            coordinate(server.url, REQUEST, timeout=10)
    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value) and str(error) in str(caught.value)


def test_html_503_without_content_type_is_retried() -> None:
    sleeps = Sleeps()

    def reply(method: str, path: str, nth: int) -> Reply:
        if nth == 1:
            return 503, {}, b"<html><body><h1>503 Service Unavailable</h1></body></html>"
        return 201, {"Content-Type": "application/json"}, as_json(lcm_coord())

    with raw_server(reply) as (url, seen):
        assert coordinate(url, REQUEST, timeout=10, sleep=sleeps)["coordinationResult"] \
            == "CONTINUE"
    assert sleeps == [DEFAULT_DELAY] and len(seen) == 2


@pytest.mark.parametrize(("status", "headers", "body", "said"), [
    (500, {}, b"<html><body><p>Internal   trouble</p></body></html>", "Internal trouble"),
    (502, {"Content-Type": "text/html"}, b"<h1>Bad gateway</h1>", "Bad gateway"),
    (400, {"Content-Type": "application/problem+json"}, b'{"detail": "broken', '{"detail"'),
    (404, {"Content-Type": "application/json"}, b"[1, 2]", "[1, 2]"),
    (422, {"Content-Type": "application/problem+json"},
     b'{"title": "Unprocessable", "detail": "no such action"}', "Unprocessable: no such action"),
    (302, {"Location": "http://elsewhere.test/"}, b"", "HTTP 302"),
])
def test_error_answers_are_clear(status: int, headers: dict[str, str], body: bytes,
                                 said: str) -> None:
    with raw_server(lambda *_: (status, headers, body)) as (url, seen):
        with pytest.raises(CoordinationError) as caught:
            coordinate(url, REQUEST, timeout=10)
    assert caught.value.status == status and f"HTTP {status}" in str(caught.value)
    assert said in str(caught.value) and "\n" not in str(caught.value)
    assert len(seen) == 1


@pytest.mark.parametrize(("body", "problem"), [
    (b"{}", "no coordinationResult"),
    (as_json(lcm_coord("MAYBE")), "coordinationResult 'MAYBE' is not one of"),
    (b"<html>ok</html>", "not JSON"),
    (b"[]", "not a JSON object"),
])
def test_a_result_that_is_not_an_lcm_coord_is_refused(body: bytes, problem: str) -> None:
    with raw_server(lambda *_: (201, {"Content-Type": "application/json"}, body)) as (url, _):
        with pytest.raises(CoordinationError, match="not an LcmCoord") as caught:
            coordinate(url, REQUEST, timeout=10)
    assert problem in str(caught.value) and caught.value.status == 201


@pytest.mark.parametrize("location", [
    "http://localhost:{port}/lcmcoord/v1/coordinations/c-1",
    "https://127.0.0.1:{port}/lcmcoord/v1/coordinations/c-1",
    "http://127.0.0.1:1/lcmcoord/v1/coordinations/c-1",
    "http://user:pw@127.0.0.1:{port}/lcmcoord/v1/coordinations/c-1",
])
def test_a_location_on_another_origin_is_refused(location: str) -> None:
    port: list[int] = []

    def reply(method: str, path: str, nth: int) -> Reply:
        return 202, {"Location": location.format(port=port[0])}, b""

    with raw_server(reply) as (url, seen):
        port.append(int(url.rsplit(":", 1)[1]))
        with pytest.raises(CoordinationError, match="not on the origin"):
            coordinate(url, REQUEST, timeout=10, sleep=Sleeps())
    assert seen == ["POST /lcmcoord/v1/coordinations"]


def test_parse_retry_after() -> None:
    now = time.time()
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after("0", now) == 0.0
    for garbage in (None, "", "-1", "soon", "nan", "Fri, 99 Foo 2000 00:00:00 GMT"):
        assert parse_retry_after(garbage, now) is None, garbage
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) \
        == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert retry_delay("0", now) == MIN_DELAY and retry_delay("x", now) == DEFAULT_DELAY


# --- authorization -----------------------------------------------------------------------

def basic(password: str = PASSWORD) -> dict[str, Any]:
    return {"authType": ["BASIC"], "paramsBasic": {"userName": "vnfm", "password": password}}


def client_credentials(token_url: str, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    return {"authType": ["OAUTH2_CLIENT_CREDENTIALS"],
            "paramsOauth2ClientCredentials": {"clientId": "vnfm", "clientPassword": secret,
                                              "tokenEndpoint": token_url}}


def client_cert(token_url: str, fingerprint: str) -> dict[str, Any]:
    return {"authType": ["OAUTH2_CLIENT_CERT"],
            "paramsOauth2ClientCert": {"clientId": "vnfm", "tokenEndpoint": token_url,
                                       "certificateRef": {"type": "x5t#S256",
                                                          "value": fingerprint}}}


def token_key(token_url: str) -> tuple[str, str, str]:
    return token_url, "vnfm", hashlib.sha256(CLIENT_SECRET.encode()).hexdigest()


def test_basic_auth() -> None:
    options = ServerOptions(basic_user="vnfm", basic_password=PASSWORD)
    with serving(options) as server:
        assert coordinate(server.url, REQUEST, authentication=basic(), timeout=10)["id"]
        assert server.requests[0].auth == "basic"


def test_first_usable_auth_type_is_chosen() -> None:
    authentication = {**basic(), "authType": ["OAUTH2_CLIENT_CERT", "KERBEROS", "BASIC"]}
    with serving(ServerOptions(basic_user="vnfm", basic_password=PASSWORD)) as server:
        assert coordinate(server.url, REQUEST, authentication=authentication, timeout=10)["id"]
        with pytest.raises(CoordinationError) as caught:
            coordinate(server.url, REQUEST, timeout=10,
                       authentication={"authType": ["KERBEROS", "BASIC"]})
    assert "'KERBEROS' is not supported; BASIC lacks paramsBasic" in str(caught.value)


def test_a_token_is_fetched_once_and_shared() -> None:
    options = ServerOptions(oauth2_client_id="vnfm", oauth2_client_secret=CLIENT_SECRET)
    with serving(options) as server:
        for _ in range(3):  # a rolling update over three VNFCs
            result = coordinate(server.url, REQUEST, timeout=10,
                                authentication=client_credentials(server.token_url))
            assert result["coordinationResult"] == "CONTINUE"
        assert server.token_requests == 1 and TOKENS.fetches == 1
        assert {r.auth for r in server.requests} == {"bearer"}


def test_a_refused_token_is_renewed_once() -> None:
    options = ServerOptions(oauth2_client_id="vnfm", oauth2_client_secret=CLIENT_SECRET)
    with serving(options) as server:
        TOKENS.token(token_key(server.token_url), lambda: ("revoked-token-0f3c", 3600.0), 1)
        assert coordinate(server.url, REQUEST, timeout=10,
                          authentication=client_credentials(server.token_url))["id"]
        assert server.token_requests == 1 and TOKENS.fetches == 2


def test_client_certificate_auth_over_mutual_tls(pki: dict[str, Any]) -> None:
    fingerprint = thumbprint(pki["client_pem"])
    options = ServerOptions(**pki["server"], client_ca=pki["ca"], oauth2_client_id="vnfm",
                            client_cert_fingerprint=fingerprint)
    tls = ClientTls(ca_file=pki["ca"], client_certs=pki["certs"])
    with serving(options) as server:
        result = coordinate(server.url, REQUEST, timeout=10, tls=tls,
                            authentication=client_cert(server.token_url, fingerprint))
        assert result["coordinationResult"] == "CONTINUE"
        assert server.token_requests == 1 and server.requests[0].auth == "bearer"
        unknown = thumbprint(pki["root"].joinpath("ca.pem").read_bytes())
        with pytest.raises(CoordinationError, match=f"fingerprint x5t#S256 {unknown}"):
            coordinate(server.url, REQUEST, timeout=10, tls=tls,
                       authentication=client_cert(server.token_url, unknown))
        with pytest.raises(CoordinationError, match="NFVD_COORDINATION_CLIENT_CERTS"):
            coordinate(server.url, REQUEST, timeout=10, tls=ClientTls(ca_file=pki["ca"]),
                       authentication=client_cert(server.token_url, fingerprint))


def test_server_certificates_are_verified(pki: dict[str, Any]) -> None:
    with serving(ServerOptions(**pki["server"])) as server:
        with pytest.raises(CoordinationError, match="(?i)certificate verify failed"):
            coordinate(server.url, REQUEST, timeout=10)
        assert coordinate(server.url, REQUEST, timeout=10, tls=ClientTls(ca_file=pki["ca"]))


def test_thumbprint_and_certificate_lookup(pki: dict[str, Any], tmp_path: Path) -> None:
    for pem in (pki["client_pem"], pki["other_pem"]):
        digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
        assert thumbprint(pem) == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    certs = Path(pki["certs"])
    found = find_client_cert(pki["certs"], thumbprint(pki["client_pem"]))
    assert (found.cert_file, found.key_file) == (str(certs / "vnfm.crt"), str(certs / "vnfm.key"))
    found = find_client_cert(pki["certs"], thumbprint(pki["other_pem"]))
    assert (found.cert_file, found.key_file) == (str(certs / "other.pem"), None)
    (tmp_path / "lone.crt").write_bytes(pki["client_pem"])
    with pytest.raises(CoordinationError, match="no private key: put the key in the same PEM"):
        find_client_cert(str(tmp_path), thumbprint(pki["client_pem"]))
    with pytest.raises(CoordinationError, match="does not exist"):
        find_client_cert(str(tmp_path / "nowhere"), thumbprint(pki["client_pem"]))


def test_secrets_never_appear_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[CoordinationError] = []
    options = ServerOptions(basic_user="vnfm", basic_password=PASSWORD,
                            oauth2_client_id="vnfm", oauth2_client_secret=CLIENT_SECRET)
    with serving(options) as server:
        wrong = [basic(PASSWORD + "-wrong"), client_credentials(server.token_url,
                                                                CLIENT_SECRET + "-wrong")]
        for authentication in wrong:
            with pytest.raises(CoordinationError) as caught:
                coordinate(server.url, REQUEST, authentication=authentication, timeout=10)
            assert caught.value.status == 401
            errors.append(caught.value)
        coordinate(server.url, REQUEST, authentication=client_credentials(server.token_url),
                   timeout=10)
    assert "(BASIC refused)" in str(errors[0])
    assert "token request to" in str(errors[1])
    cached = TOKENS.token(token_key(server.token_url), lambda: ("", None), 1)
    shown = caplog.text + "\n".join(str(e) + repr(e) for e in errors)
    for secret in (PASSWORD, CLIENT_SECRET, cached, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in shown


# --- the command -------------------------------------------------------------------------

def nfvd_coordinate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFVD_")}
    return subprocess.run([sys.executable, "-m", "framework", "coordinate", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=60,
                          check=False)


def test_command(tmp_path: Path) -> None:
    (tmp_path / "req.json").write_text(json.dumps(REQUEST))
    (tmp_path / "auth.json").write_text(json.dumps(basic()))
    options = ServerOptions(basic_user="vnfm", basic_password=PASSWORD)
    with serving(options) as server:
        done = nfvd_coordinate(tmp_path, "--endpoint", server.url, "--request", "req.json",
                               "--auth", "auth.json", "--timeout", "10")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["coordinationResult"] == "CONTINUE"

    with serving(ServerOptions(mode="async", result="ABORT", retry_after="0")) as server:
        aborted = nfvd_coordinate(tmp_path, "--endpoint", server.url, "--request", "req.json")
    assert aborted.returncode == 1, aborted.stderr
    assert json.loads(aborted.stdout)["coordinationResult"] == "ABORT"

    failed = nfvd_coordinate(tmp_path, "--endpoint", server.url, "--request", "req.json",
                             "--auth", "auth.json", "--timeout", "2")
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("nfvd: error: POST ") and PASSWORD not in failed.stderr


def test_command_refuses_bad_input(tmp_path: Path) -> None:
    (tmp_path / "req.json").write_text(json.dumps({"vnfInstanceId": "vnf-1"}))
    (tmp_path / "auth.json").write_text('{"paramsBasic": {"password": "' + PASSWORD + '"')
    cases = [(["--request", "missing.json"], "missing.json: cannot read it"),
             (["--request", "req.json"], "lacks vnfLcmOpOccId"),
             (["--request", "auth.json"], "auth.json: not JSON")]
    for args, said in cases:
        done = nfvd_coordinate(tmp_path, "--endpoint", "http://127.0.0.1:9", *args)
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert PASSWORD not in done.stderr
