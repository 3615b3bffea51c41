"""KeystoneClient against the real Keystone (and Heat as the service that refuses a token)."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from framework.workloads import CloudRegion, WorkloadError, WorkloadGone, WorkloadRejected
from openstack_cloud import Admin, CountingSession, unique

from nfvd_driver_openstack import HeatWorkload, KeystoneClient, KeystoneSession, Token
from nfvd_driver_openstack.keystone import RENEW_BEFORE, refusal


def counted() -> tuple[CountingSession, KeystoneClient, HeatWorkload]:
    http = CountingSession()
    client = KeystoneClient(http)
    return http, client, HeatWorkload(client)


def assert_clean(error: BaseException, *secrets: str) -> None:
    """One line, no secret, and no chained exception that could hold one."""
    message = str(error)
    assert "\n" not in message
    for secret in secrets:
        assert secret not in message
    assert error.__cause__ is None
    assert error.__context__ is None


def test_one_authentication_serves_many_calls(region: CloudRegion) -> None:
    http, _, workload = counted()
    for _ in range(5):
        assert workload.find(region, None, unique("none")) == []
    assert http.auths == 1


def test_threads_starting_together_share_one_authentication(region: CloudRegion) -> None:
    http, client, _ = counted()
    tokens: list[Token] = []
    barrier = threading.Barrier(6)

    def first_call() -> None:
        barrier.wait()
        tokens.append(client.token(region, str(region.default_project)))

    threads = [threading.Thread(target=first_call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert http.auths == 1
    assert len({token.value for token in tokens}) == 1


def test_a_revoked_token_is_renewed_once_when_heat_refuses_it(
        admin: Admin, region: CloudRegion) -> None:
    http, client, workload = counted()
    token = client.token(region, str(region.default_project))
    admin.revoke(token.value)  # before Heat ever saw it: Heat cannot have it cached as valid
    assert workload.find(region, None, unique("none")) == []
    assert http.auths == 2
    renewed = client.token(region, str(region.default_project))
    assert renewed.value != token.value
    workload.find(region, None, unique("none"))
    assert http.auths == 2


def test_a_revoked_token_is_renewed_when_keystone_as_a_service_refuses_it(
        admin: Admin, region: CloudRegion) -> None:
    http, client, _ = counted()
    session = client.session(region, None)
    identity = session.endpoint("identity")
    admin.revoke(session.token().value)
    answer = session.request("GET", f"{identity}/projects/{session.project_id}", "reading")
    assert answer.status_code == 200
    assert http.auths == 2


def test_a_token_is_renewed_shortly_before_it_expires(region: CloudRegion) -> None:
    now = [time.time()]
    http = CountingSession()
    client = KeystoneClient(http, clock=lambda: now[0])
    first = client.token(region, "admin")
    assert first.expires_at > now[0] + RENEW_BEFORE
    assert client.token(region, "admin") is first
    now[0] = first.expires_at - RENEW_BEFORE - 1
    assert client.token(region, "admin") is first
    now[0] = first.expires_at - RENEW_BEFORE + 1
    assert client.token(region, "admin") is not first
    assert http.auths == 2


def test_projects_by_id_and_by_name(admin: Admin, region: CloudRegion,
                                    project_b: dict[str, str]) -> None:
    http, client, _ = counted()
    by_id = client.session(region, project_b["id"])
    assert (by_id.project_id, by_id.project_name) == (project_b["id"], project_b["name"])
    assert http.auths == 1
    # 32 hex digits: tried as an id first (Keystone answers 401), then as a name
    by_name = client.session(region, project_b["name"])
    assert (by_name.project_id, by_name.project_name) == (project_b["id"], project_b["name"])
    assert http.auths == 3
    default = client.session(region, None)
    assert (default.project_id, default.project_name) == (admin.project_id, "admin")
    assert client.session(region, "admin").project_id == admin.project_id
    assert client.session(region, admin.project_id).project_name == "admin"


def test_a_wrong_password_is_a_clear_error_without_the_password(region: CloudRegion) -> None:
    password = f"Wrong-{uuid.uuid4().hex}"
    wrong = dataclasses.replace(region, password=password)
    with pytest.raises(WorkloadError) as caught:
        HeatWorkload().find(wrong, None, "anything")
    assert caught.value.status == 401
    assert str(caught.value) == (
        f"Keystone at {region.auth_url} refused to authenticate user admin (domain Default) "
        "for project admin: wrong credentials, or no role in that project")
    assert_clean(caught.value, password)
    assert password not in repr(wrong)


def test_an_unknown_project_is_refused(region: CloudRegion) -> None:
    with pytest.raises(WorkloadError, match="for project no-such-project: ") as caught:
        KeystoneClient().session(region, "no-such-project")
    assert caught.value.status == 401
    assert_clean(caught.value, str(region.password))


def test_an_unreachable_keystone_is_one_line_without_secrets(region: CloudRegion) -> None:
    password = f"secret-{uuid.uuid4().hex}"
    away = dataclasses.replace(region, auth_url="http://127.0.0.1:9/v3", password=password,
                               timeout=5)
    with pytest.raises(WorkloadError, match=r"^Keystone authentication at http://127\.0\.0\.1:9"
                                            r"/v3: cannot reach ") as caught:
        KeystoneClient().session(away, None)
    assert_clean(caught.value, password)


def test_a_bare_keystone_url_gets_v3(region: CloudRegion) -> None:
    bare = dataclasses.replace(region, auth_url=region.auth_url.removesuffix("/v3"))
    assert KeystoneClient().session(bare, None).project_name == "admin"


@pytest.fixture
def application_credential(admin: Admin) -> Iterator[dict[str, str]]:
    secret = uuid.uuid4().hex
    made = admin.call("POST", f"/users/{admin.user_id}/application_credentials", {
        "application_credential": {"name": unique("nfvd-test"), "secret": secret}})
    credential = made["application_credential"]
    yield {"id": credential["id"], "secret": secret}
    admin.call("DELETE", f"/users/{admin.user_id}/application_credentials/{credential['id']}")


def test_an_application_credential_authenticates_for_its_project(
        admin: Admin, region: CloudRegion, application_credential: dict[str, str],
        project_b: dict[str, str]) -> None:
    credential = dataclasses.replace(
        region, username=None, password=None,
        application_credential_id=application_credential["id"],
        application_credential_secret=application_credential["secret"])
    workload = HeatWorkload()
    assert workload.find(credential, None, unique("none")) == []
    assert workload.keystone.session(credential, admin.project_id).project_name == "admin"
    with pytest.raises(WorkloadError, match="is for project admin") as caught:
        workload.find(credential, project_b["id"], "anything")
    assert_clean(caught.value, application_credential["secret"])
    wrong = dataclasses.replace(credential, application_credential_secret="not-the-secret")
    with pytest.raises(WorkloadError, match="refused to authenticate application credential"):
        workload.find(wrong, None, "anything")


# What needs no cloud: the catalog's regions and the reading of a service's refusals.

CATALOG = [{"type": "orchestration", "endpoints": [
    {"interface": "public", "region_id": "RegionOne", "url": "http://one:8004/v1/p/"},
    {"interface": "internal", "region_id": "RegionOne", "url": "http://one-internal:8004/v1/p"},
    {"interface": "public", "region_id": "RegionTwo", "url": "http://two:8004/v1/p"}]},
    {"type": "identity", "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": "http://one:5000/v3"}]}]


class CatalogOnly(KeystoneClient):
    def token(self, region: CloudRegion, project: str, *,
              refused: Token | None = None) -> Token:
        return Token(value="t", expires_at=time.time() + 3600, project_id="p",
                     project_name="p", catalog=CATALOG)


def endpoint(service: str, **fields: Any) -> str:
    region = CloudRegion(owner="o", region=fields.pop("region", "RegionOne"),
                         auth_url="http://one:5000/v3", **fields)
    return KeystoneSession(CatalogOnly(), region, "p").endpoint(service)


def test_the_catalog_region_is_the_configured_one_else_the_only_one_else_the_regions() -> None:
    assert endpoint("orchestration", catalog_region="RegionTwo") == "http://two:8004/v1/p"
    assert endpoint("orchestration", region="RegionTwo") == "http://two:8004/v1/p"
    assert endpoint("orchestration", interface="internal", region="Elsewhere") == (
        "http://one-internal:8004/v1/p")
    assert endpoint("identity", region="Elsewhere") == "http://one:5000/v3"
    with pytest.raises(WorkloadError, match=r"no public orchestration endpoint in region "
                                            r"Elsewhere \(its regions: RegionOne, RegionTwo\)"):
        endpoint("orchestration", region="Elsewhere")
    with pytest.raises(WorkloadError, match="has no public compute endpoint"):
        endpoint("compute")


def answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


def test_refusals_quote_the_service_in_one_line_without_secrets() -> None:
    heat = (b'{"explanation": "The server could not comply", "code": 400, "title": "Bad Request",'
            b' "error": {"type": "StackValidationFailed", "traceback": "Traceback...\\nx",'
            b' "message": "HEAT-E99001 Service nova is not available\\nfor resource"}}')
    rejected = refusal("creating stack s", answer(400, heat))
    assert isinstance(rejected, WorkloadRejected)
    assert str(rejected) == ("creating stack s: HTTP 400: HEAT-E99001 Service nova is not "
                             "available for resource")
    gone = refusal("reading stack s", answer(404, b'{"error": {"message": "Stack not found"}}'))
    assert isinstance(gone, WorkloadGone) and gone.status == 404
    failed = refusal("x", answer(503, b"<html><body>token tok-123 down</body></html>"),
                     ("tok-123",))
    assert type(failed) is WorkloadError
    assert str(failed) == "x: HTTP 503: token *** down"
