"""The MultiCloud infra_workload API over real HTTP against a real Keystone and Heat
(tests/openstack/setup.sh), with the OpenStack driver's ``heat`` workload type; A&AI is the
stand-in of tests/fixtures/aai.py (A&AI cannot run here).

Heat here cannot boot servers (no nova-compute, no neutron), so the heatbridge test maps
``OS::Nova::Server`` and ``OS::Neutron::Port`` to provider templates (nested stacks whose
outputs are the attributes a real server and port have): Heat reports them under those types,
and nfvd reads them as it would read real ones.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fixtures.aai import AaiStandIn
from fixtures.openstack import OpenStack
from fixtures.servers import ServeProcess, ThreadServer

pytestmark = pytest.mark.openstack

OWNER, REGION = "CloudOwner", "RegionOne"
PROBLEM = "application/problem+json"
TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "parameters": {name: {"type": "string", "default": "template"}
                   for name in ("p_sdnc", "p_oof", "p_user", "p_all")},
    "resources": {"secret": {"type": "OS::Heat::RandomString", "properties": {"length": 8}},
                  "values": {"type": "OS::Heat::Value", "properties": {"type": "json", "value": {
                      name: {"get_param": name} for name in ("p_sdnc", "p_oof", "p_user",
                                                             "p_all")}}}},
    "outputs": {"values": {"value": {"get_attr": ["values", "value"]}},
                "secret": {"value": {"get_attr": ["secret", "value"]}}},
}
FAILING = {"heat_template_version": "2018-08-31", "resources": {"boom": {
    "type": "OS::Heat::TestResource", "properties": {"fail": True, "value": "boom"}}}}
#: stand-ins for OS::Nova::Server and OS::Neutron::Port (an output for each attribute Heat asks of
#: them), shared with the OpenStack driver's own tests
TEMPLATES = Path(__file__).resolve().parents[1] / "drivers" / "openstack" / "tests" / "templates"
VNF = {
    "heat_template_version": "2018-08-31",
    "parameters": {"vm_name": {"type": "string", "default": "vm-a"}},
    "resources": {
        "server": {"type": "OS::Nova::Server", "properties": {
            "name": {"get_param": "vm_name"}, "image": "cirros", "flavor": "m1.small"}},
        "port": {"type": "OS::Neutron::Port", "properties": {
            "name": "eth0", "device_id": {"get_resource": "server"},
            "mac_address": "fa:16:3e:00:00:07", "fixed_ips": [{"ip_address": "10.0.0.7"}],
            "network": "net-1"}}},
}


@pytest.fixture(scope="module")
def regions_file(openstack: OpenStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    params = openstack.params
    path = tmp_path_factory.mktemp("regions") / "regions.yaml"
    path.write_text(yaml.safe_dump({"regions": [{
        "cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": params["authUrl"],
        "username": params["username"], "password": params["password"],
        "userDomainName": params["userDomainName"],
        "projectDomainName": params["projectDomainName"],
        "defaultProject": params["projectName"], "catalogRegion": params["regionName"]}]}))
    return path


@pytest.fixture
def nfvd(serve: Callable[..., ThreadServer], settings_factory: Callable[..., Any],
         regions_file: Path, aai: AaiStandIn) -> ThreadServer:
    aai.add_region(OWNER, REGION)
    return serve(settings_factory(cloud_regions_file=str(regions_file), aai_url=aai.url,
                                  workload_poll_seconds=0.2, workload_delete_wait_seconds=2))


@pytest.fixture
def created(nfvd: ThreadServer) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """Workloads a test made ((id, headers)), deleted after it if still there."""
    made: list[tuple[str, dict[str, str]]] = []
    yield made
    for workload_id, headers in made:
        requests.delete(url(nfvd, workload_id), headers=headers, timeout=30)


def url(server: ThreadServer | ServeProcess, workload_id: str = "", region: str = REGION) -> str:
    if workload_id:
        return f"{server.url}/api/multicloud/v1/{OWNER}/{region}/infra_workload/{workload_id}"
    return f"{server.url}/api/multicloud/v1/{OWNER}/{region}/infra_workload"


def body(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"generic-vnf-id": "vnf-1", "vf-module-id": f"vfm-{uuid.uuid4().hex[:10]}",
            "vf-module-model-invariant-id": str(uuid.uuid4()), "template_type": "heat",
            "template_data": {"template": template, "parameters": {}, "files": {},
                              "disable_rollback": True, "timeout_mins": 10}, **changes}


def create(server: ThreadServer | ServeProcess, request: dict[str, Any],
           made: list[tuple[str, dict[str, str]]] | None = None,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = requests.post(url(server), json=request, headers=headers or {}, timeout=90)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    assert answer.headers["Location"].endswith(f"/infra_workload/{created['workload_id']}")
    if made is not None:
        made.append((created["workload_id"], headers or {}))
    return created


def until(server: ThreadServer | ServeProcess, workload_id: str, done: Callable[[int, Any], bool],
          headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(url(server, workload_id), headers=headers or {}, timeout=30)
        found = (answer.status_code, answer.json() if answer.content else None)
        if done(*found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def settled(status: int, found: Any) -> bool:
    return status != 200 or not found["workload_status"].endswith("_IN_PROGRESS")


def outputs(found: dict[str, Any]) -> dict[str, Any]:
    stack = found["workload_status_reason"]["stack"]
    return {item["output_key"]: item["output_value"] for item in stack.get("outputs") or []}


def test_create_then_poll_by_id_and_by_name_until_complete_with_directives(
        nfvd: ThreadServer, created: list[tuple[str, dict[str, str]]]) -> None:
    attributes = lambda **values: {"attributes": [  # noqa: E731
        {"attribute_name": k, "attribute_value": v} for k, v in values.items()]}
    request = body(TEMPLATE, template_type="HEAT",
                   sdnc_directives=attributes(p_sdnc="sdnc", p_all="sdnc"),
                   oof_directives={"directives": [{"id": "vnfc-1", "type": "vnfc", "directives": [
                       {"type": "flavor_directives", "attributes": [
                           {"attribute_name": "p_oof", "attribute_value": "oof"},
                           {"attribute_name": "p_all", "attribute_value": "oof"}]}]}]},
                   user_directives=json.dumps(attributes(p_user="user", p_all="user",
                                                         colour="blue")))
    answer = create(nfvd, request, created)
    assert answer["template_type"] == "heat"
    assert answer["workload_status"] == "CREATE_IN_PROGRESS"
    stack = answer["workload_status_reason"]["stack"]
    assert stack["id"] == answer["workload_id"] and stack["links"][0]["rel"] == "self"
    assert answer["template_response"]["stack"]["id"] == answer["workload_id"]
    assert answer["workload_status_reason"]["directives"]["ignored"] == [
        {"name": "colour", "source": "user_directives"}]

    status, found = until(nfvd, answer["workload_id"], settled)
    assert status == 200 and found["workload_status"] == "CREATE_COMPLETE", found
    assert outputs(found)["values"] == {"p_sdnc": "sdnc", "p_oof": "oof", "p_user": "user",
                                        "p_all": "user"}
    assert len(outputs(found)["secret"]) == 8
    assert found["workload_status_reason"]["stack"]["name"] == request["vf-module-id"]

    by_name = requests.get(url(nfvd), params={"name": request["vf-module-id"]}, timeout=30)
    assert by_name.status_code == 200, by_name.text
    [listed] = by_name.json()["workload_status_reason"]["stacks"]
    assert listed["id"] == answer["workload_id"] and by_name.json()["template_type"] == "heat"

    operation = requests.get(f"{nfvd.url}/api/lcm/operations/{answer['operationId']}",
                             timeout=10).json()
    deadline = time.monotonic() + 10
    while operation["state"] == "PROCESSING" and time.monotonic() < deadline:
        time.sleep(0.1)
        operation = requests.get(f"{nfvd.url}/api/lcm/operations/{answer['operationId']}",
                                 timeout=10).json()
    assert operation["state"] == "COMPLETED" and operation["kind"] == \
        "multicloud.workload.create"


def test_a_failing_template_ends_create_failed_with_heats_reason(
        nfvd: ThreadServer, created: list[tuple[str, dict[str, str]]]) -> None:
    answer = create(nfvd, body(FAILING), created)
    status, found = until(nfvd, answer["workload_id"], settled)
    assert found["workload_status"] == "CREATE_FAILED", found
    assert "Test Resource failed" in found["workload_status_reason"]["stack"]["status_reason"]


@pytest.mark.parametrize("request_body, named", [
    ({"template_type": "heat"}, "template_data"),
    (body(TEMPLATE, template_type="tosca"), "no workload type 'tosca' is installed"),
    (body(TEMPLATE, template_data="{not json"), "template_data: a string that is not JSON"),
    (body({"heat_template_version": "2018-08-31", "resources": {
        "x": {"type": "OS::Nope::Thing"}}}), "OS::Nope::Thing"),
    (body(TEMPLATE, oof_directives=17), "oof_directives: expected an object or a list"),
    (body("not: [a template"), "template_data"),
])
def test_a_bad_create_is_a_400_problem_naming_the_reason(
        nfvd: ThreadServer, request_body: dict[str, Any], named: str) -> None:
    answer = requests.post(url(nfvd), json=request_body, timeout=60)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    assert named in answer.json()["detail"]


def test_without_aai_a_slow_delete_answers_202_then_404_and_a_bad_password_stays_secret(
        serve: Callable[..., ThreadServer], settings_factory: Callable[..., Any],
        regions_file: Path, openstack: OpenStack, tmp_path: Path) -> None:
    nfvd = serve(settings_factory(cloud_regions_file=str(regions_file),
                                  workload_poll_seconds=0.2, workload_delete_wait_seconds=0))
    answer = create(nfvd, body(TEMPLATE))
    until(nfvd, answer["workload_id"], settled)
    no_aai = requests.post(url(nfvd, answer["workload_id"]), json={"generic-vnf-id": "v"},
                           timeout=30)
    assert no_aai.status_code == 400 and "NFVD_AAI_URL" in no_aai.json()["detail"]
    gone = requests.delete(url(nfvd, answer["workload_id"]), timeout=30)
    assert gone.status_code == 202, gone.text
    assert gone.json()["workload_status"] == "DELETE_IN_PROGRESS"
    assert gone.json()["workload_status_reason"]["operationId"]
    until(nfvd, answer["workload_id"], lambda status, _: status == 404)

    wrong = "Wr0ng-Pa55word"
    regions = tmp_path / "wrong.yaml"
    regions.write_text(yaml.safe_dump([{
        "cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": openstack.params["authUrl"],
        "username": openstack.params["username"], "password": wrong,
        "defaultProject": openstack.params["projectName"]}]))
    refused = serve(settings_factory(cloud_regions_file=str(regions)))
    answer_ = requests.post(url(refused), json=body(TEMPLATE), timeout=60)
    assert answer_.status_code == 403, answer_.text
    assert answer_.headers["Content-Type"].startswith(PROBLEM)
    assert "Keystone" in answer_.json()["detail"] and wrong not in answer_.text
    operations = requests.get(f"{refused.url}/api/lcm/operations", timeout=10).text
    assert wrong not in operations


def test_a_project_the_user_cannot_enter_is_a_403(nfvd: ThreadServer) -> None:
    stranger = {"Project": f"no-such-project-{uuid.uuid4().hex[:6]}"}
    for answer in (requests.post(url(nfvd), json=body(TEMPLATE), headers=stranger, timeout=60),
                   requests.get(url(nfvd), params={"name": "x"}, headers=stranger, timeout=60)):
        assert answer.status_code == 403, answer.text
        assert answer.headers["Content-Type"].startswith(PROBLEM)
        assert stranger["Project"] in answer.json()["detail"]


def test_invalid_json_an_unknown_region_and_an_unknown_workload(nfvd: ThreadServer) -> None:
    answer = requests.post(url(nfvd), data=b"{not json", timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.headers["Content-Type"].startswith(PROBLEM)
    answer = requests.post(url(nfvd, region="RegionNine"), json=body(TEMPLATE), timeout=10)
    assert answer.status_code == 404 and "RegionNine is not configured" in answer.json()["detail"]
    for method in ("GET", "DELETE", "POST"):
        answer = requests.request(method, url(nfvd, str(uuid.uuid4())), timeout=10,
                                  json={} if method == "POST" else None)
        assert answer.status_code == 404, (method, answer.text)
    answer = requests.get(url(nfvd), params={"name": "no-such-stack"}, timeout=30)
    assert answer.status_code == 404


@contextlib.contextmanager
def member_of(openstack: OpenStack, *projects: dict[str, str]) -> Iterator[dict[str, str]]:
    """A new user with only the ``member`` role in each project (not a cloud admin, whom Heat
    lets see every project's stacks); deleted afterwards."""
    name, password = f"nfvd-member-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = openstack.call("POST", f"{openstack.keystone}/users", {"user": {
        "name": name, "domain_id": "default", "password": password}})["user"]["id"]
    try:
        member = openstack.call("GET", f"{openstack.keystone}/roles?name=member")["roles"][0]
        for project in projects:
            openstack.call("PUT", f"{openstack.keystone}/projects/{project['id']}/users/{user}/"
                                  f"roles/{member['id']}")
        yield {"username": name, "password": password}
    finally:
        openstack.http.delete(f"{openstack.keystone}/users/{user}", timeout=30)


def test_the_project_header_scopes_every_call(
        serve: Callable[..., ThreadServer], settings_factory: Callable[..., Any],
        openstack: OpenStack, tmp_path: Path) -> None:
    params = openstack.params
    with openstack.project("nfvd-a") as home, openstack.project("nfvd-b") as other, \
            member_of(openstack, home, other) as user:
        regions = tmp_path / "member-regions.yaml"
        regions.write_text(yaml.safe_dump([{
            "cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": params["authUrl"],
            **user, "defaultProject": home["name"], "catalogRegion": params["regionName"]}]))
        nfvd = serve(settings_factory(cloud_regions_file=str(regions),
                                      workload_poll_seconds=0.2))
        by_name = {"Project": other["name"]}
        answer = create(nfvd, body(TEMPLATE), headers=by_name)
        workload = answer["workload_id"]
        try:
            status, found = until(nfvd, workload, settled, headers=by_name)
            assert found["workload_status"] == "CREATE_COMPLETE"
            assert f"/v1/{other['id']}/stacks/" in \
                found["workload_status_reason"]["stack"]["links"][0]["href"]
            assert requests.get(url(nfvd, workload), headers={"Project": other["id"]},
                                timeout=30).status_code == 200
            # the default project (no header) and the home project by id do not see it
            assert requests.get(url(nfvd, workload), timeout=30).status_code == 404
            assert requests.get(url(nfvd, workload), headers={"Project": home["id"]},
                                timeout=30).status_code == 404
            name = found["workload_status_reason"]["stack"]["name"]
            assert requests.get(url(nfvd), params={"name": name}, timeout=30).status_code == 404
            assert requests.get(url(nfvd), params={"name": name}, headers=by_name,
                                timeout=30).status_code == 200
            assert requests.delete(url(nfvd, workload), timeout=30).status_code == 404
            assert requests.post(url(nfvd, workload), json={"generic-vnf-id": "v"},
                                 timeout=30).status_code in (400, 404)
        finally:
            gone = requests.delete(url(nfvd, workload), headers=by_name, timeout=60)
            assert gone.status_code in (202, 204), gone.text
        until(nfvd, workload, lambda status, _: status == 404, headers=by_name)


def test_heatbridge_writes_vservers_related_to_the_vnf_then_delete_removes_them(
        nfvd: ThreadServer, aai: AaiStandIn, openstack: OpenStack,
        created: list[tuple[str, dict[str, str]]]) -> None:
    aai.inventory.add_vnf("vnf-1", "vfm-bridge")
    request = vnf_request()
    request["vf-module-id"] = "vfm-bridge"
    answer = create(nfvd, request, created)
    workload = answer["workload_id"]
    status, found = until(nfvd, workload, settled)
    assert found["workload_status"] == "CREATE_COMPLETE", found

    update = requests.post(url(nfvd, workload), json={"generic-vnf-id": "vnf-1",
                                                      "vf-module-id": "vfm-bridge"}, timeout=30)
    assert update.status_code == 202, update.text
    assert update.json()["workload_status"] == "UPDATE_IN_PROGRESS"
    status, found = until(nfvd, workload, settled)
    assert found["workload_status"] == "UPDATE_COMPLETE", found

    tenants = [key for key in aai.inventory.tenants if key[:2] == (OWNER, REGION)]
    [tenant] = tenants
    [(vserver_id, vserver)] = aai.inventory.vservers(*tenant).items()
    assert vserver["vserver-name"] == "vm-a"
    related = {r["related-to"]: r["related-link"]
               for r in vserver["relationship-list"]["relationship"]}
    assert related == {
        "generic-vnf": "/aai/v13/network/generic-vnfs/generic-vnf/vnf-1",
        "vf-module": "/aai/v13/network/generic-vnfs/generic-vnf/vnf-1/vf-modules/vf-module/"
                     "vfm-bridge"}
    [interface] = vserver["l-interfaces"]["l-interface"]
    assert (interface["interface-name"], interface["macaddr"]) == ("eth0", "fa:16:3e:00:00:07")
    assert interface["l3-interface-ipv4-address-list"][0]["l3-interface-ipv4-address"] == \
        "10.0.0.7"

    gone = requests.delete(url(nfvd, workload), timeout=60)
    assert gone.status_code in (202, 204), gone.text
    if gone.status_code == 202:
        assert gone.json()["workload_status"] == "DELETE_IN_PROGRESS"
    until(nfvd, workload, lambda status, _: status == 404)
    assert aai.inventory.vservers(*tenant) == {}
    assert requests.get(url(nfvd), params={"name": request["template_data"]["stack_name"]},
                        timeout=30).status_code == 404


def vnf_request(stack_name: str | None = None) -> dict[str, Any]:
    request = body(VNF)
    request["template_data"]["stack_name"] = stack_name or f"vnf-{uuid.uuid4().hex[:8]}"
    request["template_data"]["files"] = {
        name: (TEMPLATES / name).read_text() for name in ("server.yaml", "port.yaml")}
    request["template_data"]["environment"] = {"resource_registry": {
        "OS::Nova::Server": "server.yaml", "OS::Neutron::Port": "port.yaml"}}
    return request


def test_a_heatbridge_that_aai_refuses_ends_update_failed_with_the_reason(
        nfvd: ThreadServer, created: list[tuple[str, dict[str, str]]]) -> None:
    answer = create(nfvd, vnf_request(), created)
    until(nfvd, answer["workload_id"], settled)
    update = requests.post(url(nfvd, answer["workload_id"]),
                           json={"generic-vnf-id": "vnf-unknown-to-aai"}, timeout=30)
    assert update.status_code == 202, update.text
    status, found = until(nfvd, answer["workload_id"], settled)
    assert found["workload_status"] == "UPDATE_FAILED", found
    assert "related generic-vnf vnf-unknown-to-aai not found" in \
        found["workload_status_reason"]["error"]


def test_a_restart_during_a_create_finishes_it(
        serve_process: Callable[..., ServeProcess], regions_file: Path,
        tmp_path: Path) -> None:
    env = {"NFVD_DATABASE_URL": f"sqlite:///{tmp_path / 'restart.db'}",
           "NFVD_CLOUD_REGIONS_FILE": str(regions_file), "NFVD_ENGINE_LEASE_SECONDS": "2",
           "NFVD_WORKLOAD_POLL_SECONDS": "0.2"}
    first = serve_process(env)
    first.wait_ready(30)
    answer = create(first, vnf_request())
    first.stop(signal.SIGKILL)
    second = serve_process({**env, "NFVD_PORT": str(first.port)})
    second.wait_ready(30)
    try:
        status, found = until(second, answer["workload_id"], settled)
        assert found["workload_status"] == "CREATE_COMPLETE", found
        operation = answer["operationId"]
        deadline = time.monotonic() + 30
        while True:
            state = requests.get(f"{second.url}/api/lcm/operations/{operation}",
                                 timeout=10).json()["state"]
            if state != "PROCESSING" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert state == "COMPLETED"
    finally:
        gone = requests.delete(url(second, answer["workload_id"]), timeout=60)
        assert gone.status_code in (202, 204), gone.text

