"""The OpenStack driver (nfvd-driver-openstack, installed beside the core) behind Brent's resource
driver API, against the real Keystone and Heat of tests/openstack/setup.sh: Create makes a stack
from the package's heat.yaml and reports its outputs on Kafka, Delete removes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from fixtures.brent import EXECUTE, FIND, ExecutionEvents, execute_body
from fixtures.openstack import OpenStack
from fixtures.servers import ThreadServer

pytestmark = pytest.mark.openstack

HEAT = """\
heat_template_version: 2018-08-31
parameters:
  flavor: {type: string, default: m1.tiny}
  replicas: {type: number, default: 1}
resources:
  token:
    type: OS::Heat::RandomString
    properties: {length: 16}
outputs:
  flavor: {value: {get_param: flavor}}
  replicas: {value: {get_param: replicas}}
  token_length: {value: 16}
"""
FAILING = """\
heat_template_version: 2018-08-31
resources:
  boom: {type: OS::Heat::TestResource, properties: {fail: true, value: boom}}
"""


@pytest.fixture
def location(openstack: OpenStack) -> dict[str, Any]:
    params = openstack.params
    return {"name": "lab-openstack", "type": "Openstack", "properties": {
        "os_auth_url": params["authUrl"], "os_auth_username": params["username"],
        "os_auth_password": params["password"], "os_auth_project_name": params["projectName"],
        "os_auth_project_domain_name": params["projectDomainName"],
        "os_auth_user_domain_name": params["userDomainName"]}}


def execute(server: ThreadServer, lifecycle: str, location: dict[str, Any],
            template: str = HEAT, **fields: Any) -> str:
    body = execute_body(lifecycle, location_type="Openstack", files={"heat.yaml": template},
                        deploymentLocation=location, **fields)
    answer = requests.post(server.url + EXECUTE, json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["requestId"])


def test_create_reports_the_stack_outputs_then_delete_removes_it(
        serve: Callable[..., ThreadServer], events: ExecutionEvents,
        location: dict[str, Any]) -> None:
    server = serve()
    name = {"type": "string", "value": f"nfvd-rd-{id(server):x}"}
    system = {"resourceId": {"type": "string", "value": "r-1"}, "resourceName": name}
    request_id = execute(server, "Create", location, systemProperties=system,
                         resourceProperties={"flavor": "m1.large",
                                             "replicas": {"type": "integer", "value": 3}})
    done = events.terminal(request_id, timeout=90)
    assert done["status"] == "COMPLETE", done
    assert done["outputs"] == {"flavor": "m1.large", "replicas": 3, "token_length": 16}
    [(stack_name, stack)] = done["associatedTopology"].items()
    assert stack_name == name["value"] and stack["type"] == "Openstack" and stack["id"]

    files = execute_body("Create", files={"heat.yaml": HEAT})["driverFiles"]
    found = requests.post(server.url + FIND, timeout=30, json={
        "instanceName": name["value"], "driverFiles": files, "deploymentLocation": location})
    assert found.status_code == 200, found.text
    assert found.json()["result"]["resourceId"] == stack["id"]
    assert found.json()["result"]["outputs"]["flavor"] == "m1.large"

    deleted = events.terminal(execute(server, "Delete", location, systemProperties=system,
                                      associatedTopology=done["associatedTopology"]),
                              timeout=90)
    assert deleted["status"] == "COMPLETE", deleted
    missing = requests.post(server.url + FIND, timeout=30, json={
        "instanceName": name["value"], "driverFiles": files, "deploymentLocation": location})
    assert missing.json() == {"result": None}


def test_a_failing_stack_is_an_infrastructure_error_with_heats_reason(
        serve: Callable[..., ThreadServer], events: ExecutionEvents,
        location: dict[str, Any]) -> None:
    server = serve()
    system = {"resourceName": {"type": "string", "value": f"nfvd-fail-{id(server):x}"}}
    failed = events.terminal(execute(server, "Create", location, FAILING,
                                     systemProperties=system), timeout=90)
    assert failed["status"] == "FAILED"
    assert failed["failureDetails"]["failureCode"] == "INFRASTRUCTURE_ERROR"
    assert "Test Resource failed" in failed["failureDetails"]["description"]
    assert location["properties"]["os_auth_password"] not in str(failed)
    cleanup = events.terminal(execute(server, "Delete", location, systemProperties=system),
                              timeout=90)
    assert cleanup["status"] == "COMPLETE", cleanup
