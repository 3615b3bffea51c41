"""The reference LCM coordination server (the EM side) over real HTTP(S) on loopback."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from click.testing import CliRunner
from fixtures.kafka import free_port

from framework.app import create_app
from framework.cli import main
from framework.config import Settings
from framework.coordination.server import (
    CoordinationBusy,
    CoordinationConflict,
    CoordinationRejected,
    CoordinationServer,
    ServerOptions,
)
from framework.coordination.server_app import thumbprint_matches

PROBLEM = "application/problem+json"
V = {"Version": "1.0.0"}
PASSWORD = "pw-Em-Basic-51c7"
SECRET = "secret-Em-Oauth-9e04"
REQUEST: dict[str, Any] = {
    "vnfInstanceId": "vnf-1", "vnfLcmOpOccId": "op-1", "lcmOperationType": "CHANGE_VNFPKG",
    "coordinationActionName": "prv.nfvd.coordination_test",
    "inputParams": {"vnfcInstanceId": "vnfc-1"},
    "_links": {"vnfLcmOpOcc": {"href": "http://vnfm.test/vnflcm/v2/vnf_lcm_op_occs/op-1"},
               "vnfInstance": {"href": "http://vnfm.test/vnflcm/v2/vnf_instances/vnf-1"}},
}
Start = Callable[..., CoordinationServer]


@pytest.fixture
def em() -> Iterator[Start]:
    """Starts coordination servers with the given options; all are stopped after the test."""
    started: list[CoordinationServer] = []

    def start(**options: Any) -> CoordinationServer:
        server = CoordinationServer(ServerOptions(**options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def default_em() -> Iterator[CoordinationServer]:
    """One server with the default options, for tests that only read its answers."""
    with CoordinationServer() as server:
        yield server


def post(server: CoordinationServer | str, body: dict[str, Any] | None = None,
         **kwargs: Any) -> requests.Response:
    """POST /coordinations of ``server`` (or of a server at this URL)."""
    url = server if isinstance(server, str) else server.url
    kwargs.setdefault("headers", V)
    return requests.post(f"{url}/lcmcoord/v1/coordinations", json=body or REQUEST, timeout=5,
                         **kwargs)


def read(server: CoordinationServer | str, coordination_id: str,
         **kwargs: Any) -> requests.Response:
    url = server if isinstance(server, str) else server.url
    kwargs.setdefault("headers", V)
    return requests.get(f"{url}/lcmcoord/v1/coordinations/{coordination_id}", timeout=5,
                        **kwargs)


def cancel(server: CoordinationServer, coordination_id: str) -> requests.Response:
    return requests.post(f"{server.url}/lcmcoord/v1/coordinations/{coordination_id}/cancel",
                         headers=V, timeout=5)


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["Version"] == "1.0.0"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"] and body["title"]
    return body


def last_id(response: requests.Response) -> str:
    return response.headers["Location"].rsplit("/", 1)[1]


# -- modes and results ---------------------------------------------------------------------------

def test_sync_answers_201_with_the_result_and_where_it_stays(em: Start) -> None:
    server = em()
    created = post(server)
    assert created.status_code == 201, created.text
    assert created.headers["Version"] == "1.0.0"
    coordination = created.json()
    location = created.headers["Location"]
    assert location == f"{server.url}/lcmcoord/v1/coordinations/{coordination['id']}"
    assert coordination["coordinationResult"] == "CONTINUE"
    assert {k: coordination[k] for k in ("vnfInstanceId", "vnfLcmOpOccId", "lcmOperationType",
                                         "coordinationActionName")} == {
        k: REQUEST[k] for k in ("vnfInstanceId", "vnfLcmOpOccId", "lcmOperationType",
                                "coordinationActionName")}
    assert coordination["_links"] == {"self": {"href": location}, **REQUEST["_links"]}
    again = requests.get(location, headers=V, timeout=5)
    assert (again.status_code, again.json()) == (200, coordination)
    [received] = server.requests
    assert received.body == REQUEST and received.headers["version"] == "1.0.0"
    assert received.auth is None


def test_async_answers_202_then_the_result_after_the_polls(em: Start) -> None:
    server = em(mode="async", polls=2, retry_after="3")
    accepted = post(server)
    assert accepted.status_code == 202 and accepted.content == b""
    assert accepted.headers["Retry-After"] == "3" and accepted.headers["Location"]
    for _ in range(2):
        pending = read(server, last_id(accepted))
        assert pending.status_code == 202 and pending.content == b""
        assert pending.headers["Retry-After"] == "3"
    done = read(server, last_id(accepted))
    assert done.status_code == 200
    assert done.json()["coordinationResult"] == "CONTINUE"
    assert done.json()["_links"]["self"]["href"] == accepted.headers["Location"]


def test_busy_answers_503_with_retry_after_then_coordinates(em: Start) -> None:
    when = "Wed, 21 Oct 2026 07:28:00 GMT"
    server = em(busy=2, retry_after=when)
    for _ in range(2):
        refused = post(server)
        assert_problem(refused, 503)
        assert refused.headers["Retry-After"] == when
    assert post(server).status_code == 201
    assert len(server.requests) == 3


def test_abort_carries_an_error(em: Start) -> None:
    coordination = post(em(result="ABORT")).json()
    assert coordination["coordinationResult"] == "ABORT"
    assert coordination["error"]["status"] and REQUEST["coordinationActionName"] in (
        coordination["error"]["detail"])


def test_cancel_in_progress_makes_it_cancelled(em: Start) -> None:
    server = em(mode="async", polls=5)
    coordination_id = last_id(post(server))
    assert read(server, coordination_id).status_code == 202
    cancelled = cancel(server, coordination_id)
    assert cancelled.status_code == 202 and cancelled.content == b""
    assert cancelled.headers["Version"] == "1.0.0"
    result = read(server, coordination_id)
    assert result.status_code == 200
    assert result.json()["coordinationResult"] == "CANCELLED"
    assert_problem(cancel(server, coordination_id), 409)


def test_cancel_after_the_end_is_a_conflict(default_em: CoordinationServer) -> None:
    server = default_em
    body = assert_problem(cancel(server, last_id(post(server))), 409)
    assert "finished" in body["detail"]


def test_unknown_coordination_is_404(default_em: CoordinationServer) -> None:
    server = default_em
    assert_problem(read(server, "no-such-id"), 404)
    assert_problem(cancel(server, "no-such-id"), 404)


# -- the decide hook ------------------------------------------------------------------------------

def test_decide_hook_chooses_the_result_and_its_details(em: Start) -> None:
    seen: list[dict[str, Any]] = []

    def decide(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"coordinationResult": "ABORT", "outputParams": {"drained": False},
                "warnings": "vnfc-1 still has sessions",
                "error": {"status": 409, "detail": f"{request['inputParams']['vnfcInstanceId']} "
                                                   "is busy"}}

    coordination = post(em(decide=decide)).json()
    assert seen == [REQUEST]
    assert coordination["coordinationResult"] == "ABORT"
    assert coordination["outputParams"] == {"drained": False}
    assert coordination["warnings"] == "vnfc-1 still has sessions"
    assert coordination["error"] == {"status": 409, "detail": "vnfc-1 is busy"}
    assert post(em(decide=lambda _request: "CONTINUE")).json()["coordinationResult"] == (
        "CONTINUE")


@pytest.mark.parametrize(("error", "status"), [(CoordinationRejected, 403),
                                               (CoordinationConflict, 409),
                                               (CoordinationBusy, 503)])
def test_decide_hook_refuses(em: Start, error: type[Exception], status: int) -> None:
    def decide(_request: dict[str, Any]) -> str:
        raise error("maintenance window: no rolling update now")

    server = em(decide=decide, retry_after="7")
    refused = post(server)
    assert assert_problem(refused, status)["detail"] == "maintenance window: no rolling update now"
    assert refused.headers.get("Retry-After") == ("7" if status == 503 else None)


def test_decide_hook_breaking_its_contract_is_a_500_without_internals(
        em: Start, caplog: pytest.LogCaptureFixture) -> None:
    body = assert_problem(post(em(decide=lambda _request: "MAYBE")), 500)
    assert "incident" in body["detail"] and "MAYBE" not in body["detail"]
    assert "coordinationResult" in caplog.text  # the log says what the hook got wrong


# -- the contract of the spec ---------------------------------------------------------------------

def test_version_header_is_required(em: Start) -> None:
    server = em()
    body = assert_problem(post(server, headers={}), 400)
    assert "Version" in body["detail"]
    assert_problem(post(server, headers={"Version": "2.0.0"}), 400)
    assert_problem(read(server, "any", headers={}), 400)
    assert not server.requests


@pytest.mark.parametrize("change", [{"lcmOperationType": "REBOOT"}, {"_links": {}},
                                    {"vnfInstanceId": ""}, {"inputParams": "vnfc-1"}])
def test_invalid_requests_are_400(default_em: CoordinationServer, change: dict[str, Any]) -> None:
    body = assert_problem(post(default_em, {**REQUEST, **change}), 400)
    assert "REBOOT" not in body["detail"]


def test_body_larger_than_the_limit_is_413(em: Start) -> None:
    assert_problem(post(em(max_body_bytes=512), {**REQUEST, "inputParams": {"x": "y" * 600}}),
                   413)


@pytest.mark.parametrize(("options", "field"), [
    ({"mode": "later"}, "mode"), ({"retry_after": "soon"}, "retry_after"),
    ({"basic_user": "em"}, "basic_user"), ({"oauth2_client_id": "vnfm"}, "oauth2_client_id"),
    ({"client_ca": "ca.pem"}, "certfile"), ({"polls": -1}, "polls"),
    ({"certfile": "s.pem", "client_ca": "ca.pem", "client_cert_fingerprint": "ab:cd"},
     "client_cert_fingerprint"),
])
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ServerOptions(**options)


def test_nfvd_serve_does_not_serve_the_em_side(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'nfvd.db'}",
                              kafka_bootstrap_servers=f"127.0.0.1:{free_port()}"))
    assert "/lcmcoord/v1" not in {api.base_path for api in app.middleware.apis}


# -- security -------------------------------------------------------------------------------------

def test_basic_auth(em: Start) -> None:
    server = em(basic_user="vnfm", basic_password=PASSWORD)
    assert post(server, auth=("vnfm", PASSWORD)).status_code == 201
    assert server.requests[0].auth == "basic"
    assert "authorization" not in server.requests[0].headers
    for auth in [("vnfm", "wrong-password"), None]:
        refused = assert_problem(post(server, auth=auth), 401)
        assert refused["detail"] and "wrong-password" not in str(refused)
    assert post(server).headers["WWW-Authenticate"].startswith("Basic ")
    assert_problem(read(server, "any", auth=("vnfm", "nope")), 401)


def token(server: CoordinationServer, **kwargs: Any) -> requests.Response:
    data = {"grant_type": "client_credentials", **kwargs.pop("data", {})}
    return requests.post(server.token_url, data=data, timeout=5, **kwargs)


def test_oauth2_client_credentials(em: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = em(oauth2_client_id="vnfm", oauth2_client_secret=SECRET, token_ttl=600)
    assert server.token_url == f"{server.url}/oauth2/token"
    issued = token(server, auth=("vnfm", SECRET))
    assert issued.status_code == 200, issued.text
    assert issued.headers["Cache-Control"] == "no-store"
    grant = issued.json()
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 600
    bearer = {**V, "Authorization": f"Bearer {grant['access_token']}"}
    assert post(server, headers=bearer).status_code == 201
    assert server.requests[-1].auth == "bearer"
    in_form = token(server, data={"client_id": "vnfm", "client_secret": SECRET})
    assert in_form.status_code == 200 and in_form.json()["access_token"] != grant["access_token"]

    wrong = token(server, auth=("vnfm", "not-the-secret"))
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    assert token(server, data={"client_id": "vnfm"}).status_code == 401  # no certificate
    unsupported = token(server, auth=("vnfm", SECRET), data={"grant_type": "password"})
    assert unsupported.json() == {"error": "unsupported_grant_type"}
    assert server.token_requests == 5

    no_token = assert_problem(post(server), 401)
    assert "not-the-secret" not in str(no_token)
    assert post(server).headers["WWW-Authenticate"].startswith("Bearer ")
    assert_problem(post(server, headers={**V, "Authorization": "Bearer made-up"}), 401)
    assert_problem(post(server, auth=("vnfm", SECRET)), 401)  # Basic is not configured
    for secret in (SECRET, "not-the-secret", grant["access_token"]):
        assert secret not in caplog.text


def test_token_endpoint_exists_only_with_oauth2(default_em: CoordinationServer) -> None:
    assert_problem(token(default_em), 404)


# -- TLS ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("em-pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    found = {name: str(path) for name, path in paths.items()}
    for name in ("vnfm", "other"):
        client = ca.issue_cert(f"{name}.example")
        client.private_key_and_cert_chain_pem.write_to_path(str(folder / f"{name}.pem"))
        found[name] = str(folder / f"{name}.pem")
        der = ssl.PEM_cert_to_DER_cert(client.cert_chain_pems[0].bytes().decode())
        found[f"{name}-x5t"] = base64.urlsafe_b64encode(
            hashlib.sha256(der).digest()).decode().rstrip("=")
    return found


def test_https(em: Start, pki: dict[str, str]) -> None:
    server = em(certfile=pki["cert"], keyfile=pki["key"])
    assert server.url.startswith("https://127.0.0.1:")
    assert post(server, verify=pki["ca"]).status_code == 201
    with pytest.raises(requests.exceptions.SSLError):
        post(server)  # the system CAs do not know ours


def test_client_certificate_and_oauth2_without_secret(em: Start, pki: dict[str, str]) -> None:
    server = em(certfile=pki["cert"], keyfile=pki["key"], client_ca=pki["ca"],
                oauth2_client_id="vnfm", client_cert_fingerprint=pki["vnfm-x5t"])
    with pytest.raises(requests.exceptions.ConnectionError):
        token(server, verify=pki["ca"], data={"client_id": "vnfm"})  # no client certificate
    issued = token(server, verify=pki["ca"], cert=pki["vnfm"], data={"client_id": "vnfm"})
    assert issued.status_code == 200, issued.text
    bearer = {**V, "Authorization": f"Bearer {issued.json()['access_token']}"}
    assert post(server, headers=bearer, verify=pki["ca"], cert=pki["vnfm"]).status_code == 201
    # signed by the same CA, but not the certificate the server was told to expect
    pinned_out = token(server, verify=pki["ca"], cert=pki["other"], data={"client_id": "vnfm"})
    assert (pinned_out.status_code, pinned_out.json()) == (401, {"error": "invalid_client"})


def test_thumbprints_in_both_notations(pki: dict[str, str]) -> None:
    digest = base64.urlsafe_b64decode(pki["vnfm-x5t"] + "=")
    assert thumbprint_matches(digest, pki["vnfm-x5t"])
    assert thumbprint_matches(digest, ":".join(f"{b:02X}" for b in digest))
    assert not thumbprint_matches(digest, pki["other-x5t"])
    assert not thumbprint_matches(None, pki["vnfm-x5t"])


# -- the command ----------------------------------------------------------------------------------

def test_command_serves_until_sigterm(tmp_path: Path) -> None:
    (tmp_path / "em_hooks.py").write_text(
        "def decide(request):\n"
        "    return 'ABORT' if request['inputParams'].get('vnfcInstanceId') == 'vnfc-9' "
        "else 'CONTINUE'\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFVD_")}
    env.update(NFVD_COORDINATION_SERVER_BASIC_USER="vnfm",
               NFVD_COORDINATION_SERVER_BASIC_PASSWORD=PASSWORD)
    out, err = tmp_path / "em.out", tmp_path / "em.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(  # the checkout is not the cwd: the installed package runs
            [sys.executable, "-m", "framework", "coordination-server", "--port", str(port),
             "--mode", "async", "--polls", "0", "--decide", "em_hooks:decide"],
            cwd=tmp_path, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    server = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, err.read_text()
            try:
                first = post(server, auth=("vnfm", PASSWORD))
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
        assert first.status_code == 202
        assert read(server, last_id(first), auth=("vnfm", PASSWORD)).json()[
            "coordinationResult"] == "CONTINUE"
        aborting = post(server, {**REQUEST, "inputParams": {"vnfcInstanceId": "vnfc-9"}},
                        auth=("vnfm", PASSWORD))
        assert read(server, last_id(aborting), auth=("vnfm", PASSWORD)).json()[
            "coordinationResult"] == "ABORT"
        assert post(server).status_code == 401
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err.read_text()
    assert f"listening on http://127.0.0.1:{port}" in out.read_text()
    assert PASSWORD not in out.read_text() + err.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--decide", "no_such_module_here:decide"], "cannot import no_such_module_here"),
    (["--decide", "json:no_such_function"], "json has no attribute no_such_function"),
    (["--decide", "json"], "expected MODULE:CALLABLE"),
    (["--basic-user", "vnfm"], "basic_user and basic_password"),
])
def test_command_refuses_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["coordination-server", *args], env={
        "NFVD_COORDINATION_SERVER_BASIC_PASSWORD": ""})
    assert result.exit_code == 2
    assert message in result.output
