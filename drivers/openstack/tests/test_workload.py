"""HeatWorkload against the real Heat: stacks created, found, failed, rejected, inventoried,
deleted, and kept apart by project."""

from __future__ import annotations

import time
from typing import Any

import pytest
from framework.workloads import CloudRegion, WorkloadGone, WorkloadRejected
from openstack_cloud import PROVIDER_REGISTRY, Admin, provider_files, unique

from nfvd_driver_openstack import HeatWorkload

SIMPLE = """
heat_template_version: 2018-08-31
description: two leaves, two parameters, two outputs
parameters:
  greeting: {type: string, default: hello}
  length: {type: number, default: 8}
resources:
  secret:
    type: OS::Heat::RandomString
    properties: {length: {get_param: length}}
  message:
    type: OS::Heat::Value
    properties: {value: {list_join: [" ", [{get_param: greeting}, world]]}}
outputs:
  message: {value: {get_attr: [message, value]}}
  length: {value: {get_param: length}}
"""

NOTHING = """
heat_template_version: 2018-08-31
resources:
  nothing: {type: OS::Heat::None}
"""

FAILING = """
heat_template_version: 2018-08-31
resources:
  boom:
    type: OS::Heat::TestResource
    properties: {fail: true, value: boom}
"""

REJECTED = """
heat_template_version: 2018-08-31
resources:
  thing: {type: OS::Nfvd::NoSuchThing}
"""

SERVERS = """
heat_template_version: 2018-08-31
resources:
  vm:
    type: OS::Nova::Server
    properties: {name: vm-1, image: cirros, flavor: m1.small}
  eth0:
    type: OS::Neutron::Port
    properties:
      name: vm-1-eth0
      network: net-a
      mac_address: "fa:16:3e:00:00:01"
      fixed_ips: [{ip_address: 10.0.0.5}, {ip_address: "fd00::5"}]
      device_id: {get_resource: vm}
  eth1:
    type: OS::Neutron::Port
    properties: {name: loose, network: net-b, mac_address: "fa:16:3e:00:00:02"}
  wrapped:
    type: OS::Nova::Server
    properties: {name: vm-2, flavor: m1.small}
  eth2:
    type: OS::Neutron::Port
    properties:
      name: vm-2-eth0
      network: net-a
      fixed_ips: [{ip_address: 10.0.0.6}]
      device_id: {get_resource: wrapped}
"""


def settle(workload: HeatWorkload, region: CloudRegion, project: str | None,
           stack_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The stack once it is no longer in progress."""
    deadline = time.monotonic() + timeout
    while True:
        stack = workload.show(region, project, stack_id)
        if not stack["status"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.25)


def gone(workload: HeatWorkload, region: CloudRegion, project: str | None, stack_id: str,
         timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            workload.show(region, project, stack_id)
        except WorkloadGone:
            return True
        time.sleep(0.25)
    return False


@pytest.fixture(scope="module")
def simple(admin: Admin, region: CloudRegion) -> dict[str, Any]:
    """A complete stack of SIMPLE, and the body it was made with."""
    body = {"stack_name": unique("nfvd-simple"), "template": SIMPLE,
            "parameters": {"greeting": "hi"}, "timeout_mins": 5}
    created = admin.workload.create(region, None, body)
    admin.track(None, created["id"])
    assert created["name"] == body["stack_name"]
    assert created["status"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE")
    return {"body": body, "created": created,
            "stack": settle(admin.workload, region, None, created["id"])}


def test_create_completes_with_outputs(simple: dict[str, Any]) -> None:
    stack = simple["stack"]
    assert stack["status"] == "CREATE_COMPLETE", stack["status_reason"]
    assert stack["id"] == simple["created"]["id"]
    assert stack["name"] == stack["stack_name"] == simple["body"]["stack_name"]
    assert stack["status_reason"] == stack["stack_status_reason"]
    assert any(link["rel"] == "self" for link in stack["links"])
    assert {o["output_key"]: o["output_value"] for o in stack["outputs"]} == {
        "message": "hi world", "length": 8}
    assert stack["description"] == "two leaves, two parameters, two outputs"


def test_create_is_idempotent_by_name(admin: Admin, region: CloudRegion,
                                      simple: dict[str, Any]) -> None:
    again = admin.workload.create(region, None, simple["body"])
    assert again["id"] == simple["created"]["id"]
    assert again["status"] == "CREATE_COMPLETE"
    assert [s["id"] for s in admin.workload.find(region, None, again["name"])] == [again["id"]]


def test_find_by_name(admin: Admin, region: CloudRegion, simple: dict[str, Any]) -> None:
    found = admin.workload.find(region, None, simple["body"]["stack_name"])
    assert [(s["id"], s["name"], s["status"]) for s in found] == [
        (simple["created"]["id"], simple["body"]["stack_name"], "CREATE_COMPLETE")]
    assert admin.workload.find(region, None, unique("nfvd-none")) == []
    # Heat's name filter is exact: a prefix finds nothing
    assert admin.workload.find(region, None, simple["body"]["stack_name"][:-1]) == []


def test_an_unknown_stack_is_gone(admin: Admin, region: CloudRegion) -> None:
    with pytest.raises(WorkloadGone):
        admin.workload.show(region, None, "0c2d9a7e-0000-4000-8000-000000000000")
    admin.workload.delete(region, None, "0c2d9a7e-0000-4000-8000-000000000000")


def test_a_failing_stack_fails_with_heats_reason(admin: Admin, region: CloudRegion) -> None:
    created = admin.workload.create(region, None, {"stack_name": unique("nfvd-failing"),
                                                   "template": FAILING})
    admin.track(None, created["id"])
    stack = settle(admin.workload, region, None, created["id"])
    assert stack["status"] == "CREATE_FAILED"
    assert "Test Resource failed boom" in stack["status_reason"]


def test_a_template_heat_rejects_is_rejected_with_its_message(admin: Admin,
                                                              region: CloudRegion) -> None:
    name = unique("nfvd-rejected")
    with pytest.raises(WorkloadRejected) as caught:
        admin.workload.create(region, None, {"stack_name": name, "template": REJECTED})
    assert caught.value.status == 400
    assert str(caught.value).startswith(f"creating stack {name}: HTTP 400: ")
    assert "OS::Nfvd::NoSuchThing" in str(caught.value)
    assert admin.workload.find(region, None, name) == []


def test_delete_then_gone(admin: Admin, region: CloudRegion) -> None:
    name = unique("nfvd-deleted")
    created = admin.workload.create(region, None, {"stack_name": name, "template": NOTHING})
    admin.track(None, created["id"])
    assert settle(admin.workload, region, None, created["id"])["status"] == "CREATE_COMPLETE"
    admin.workload.delete(region, None, created["id"])
    assert gone(admin.workload, region, None, created["id"])
    assert admin.workload.find(region, None, name) == []
    admin.workload.delete(region, None, created["id"])  # gone already: fine
    with pytest.raises(WorkloadGone):
        admin.workload.inventory(region, None, created["id"])


def test_inventory_through_provider_templates(admin: Admin, region: CloudRegion) -> None:
    created = admin.workload.create(region, None, {
        "stack_name": unique("nfvd-servers"), "template": SERVERS, "files": provider_files(),
        "environment": {"resource_registry": {
            **PROVIDER_REGISTRY, "resources": {"wrapped": {"OS::Nova::Server": "wrapper.yaml"}}}}})
    admin.track(None, created["id"])
    stack = settle(admin.workload, region, None, created["id"])
    assert stack["status"] == "CREATE_COMPLETE", stack["status_reason"]
    inventory = admin.workload.inventory(region, None, created["id"])
    assert (inventory.tenant_id, inventory.tenant_name) == (admin.project_id, "admin")
    server, wrapped = sorted(inventory.servers, key=lambda server: server["name"])
    # the wrapper is left out: the server it holds is the one reported, with its port
    assert wrapped["name"] == "vm-2"
    assert wrapped["selflink"] == f"http://compute.invalid/v2.1/servers/{wrapped['id']}"
    assert [(port["name"], port["ips"][0]["address"]) for port in wrapped["interfaces"]] == [
        ("vm-2-eth0", "10.0.0.6")]
    assert server["name"] == "vm-1"
    assert server["status"] == "ACTIVE"
    assert server["selflink"] == f"http://compute.invalid/v2.1/servers/{server['id']}"
    assert server["interfaces"] == [{
        "id": server["interfaces"][0]["id"], "name": "vm-1-eth0",
        "mac_address": "fa:16:3e:00:00:01", "network_id": "net-a",
        "ips": [{"address": "10.0.0.5", "prefix_length": None, "version": 4},
                {"address": "fd00::5", "prefix_length": None, "version": 6}]}]


def test_inventory_of_a_stack_without_servers(admin: Admin, region: CloudRegion,
                                              simple: dict[str, Any]) -> None:
    inventory = admin.workload.inventory(region, "admin", simple["created"]["id"])
    assert inventory.servers == []
    assert inventory.tenant_id == admin.project_id


def test_projects_are_isolated(admin: Admin, region: CloudRegion, simple: dict[str, Any],
                               project_b: dict[str, str]) -> None:
    name, stack_id = simple["body"]["stack_name"], simple["created"]["id"]
    workload = HeatWorkload()
    for project in (project_b["id"], project_b["name"]):
        assert workload.find(region, project, name) == []
        with pytest.raises(WorkloadGone):
            workload.show(region, project, stack_id)
    workload.delete(region, project_b["id"], stack_id)  # not B's: nothing to delete there
    assert workload.show(region, None, stack_id)["status"] == "CREATE_COMPLETE"
    # the same name is free in B, and B's stack is not A's
    other = workload.create(region, project_b["id"], {"stack_name": name, "template": NOTHING})
    admin.track(project_b["id"], other["id"])
    assert other["id"] != stack_id
    assert [s["id"] for s in workload.find(region, project_b["name"], name)] == [other["id"]]
    assert [s["id"] for s in workload.find(region, None, name)] == [stack_id]
    assert settle(workload, region, project_b["id"], other["id"])["status"] == "CREATE_COMPLETE"


# What needs no cloud: the parameters a template declares.

def test_parameters_of_a_template_as_mapping_yaml_or_json() -> None:
    workload = HeatWorkload()
    assert workload.parameters({"template": SIMPLE}) == {"greeting", "length"}
    assert workload.parameters({"template": {"heat_template_version": "2018-08-31",
                                             "parameters": {"a": {"type": "string"}}}}) == {"a"}
    assert workload.parameters({"template": '{"heat_template_version": "2016-10-14",\t'
                                            '"parameters": {"b": {}}}'}) == {"b"}
    assert workload.parameters({"template": NOTHING}) == set()
    assert workload.parameters({"template": "AWSTemplateFormatVersion: 2010-09-09\n"
                                            "Parameters: {KeyName: {Type: String}}"}) == {"KeyName"}


@pytest.mark.parametrize(("template", "reason"), [
    (None, "must be a mapping or a YAML or JSON string"),
    ("", "must be a mapping or a YAML or JSON string"),
    ("heat_template_version: [", "is not valid YAML or JSON"),
    ('{"heat_template_version": ', "is not valid YAML or JSON"),
    ("- a list", "is not a mapping"),
    ("resources: {}", "has no heat_template_version"),
    ("heat_template_version: 2018-08-31\nparameters: [a]", "parameters are not a mapping"),
])
def test_a_template_that_cannot_be_read_is_rejected(template: Any, reason: str) -> None:
    with pytest.raises(WorkloadRejected, match=reason) as caught:
        HeatWorkload().parameters({"template": template})
    assert "\n" not in str(caught.value)
    assert caught.value.status == 400


def test_a_create_without_a_stack_name_is_rejected() -> None:
    nowhere = CloudRegion(owner="o", region="r", auth_url="http://127.0.0.1:9/v3",
                          username="u", password="p", default_project="p")
    with pytest.raises(WorkloadRejected, match="stack_name"):
        HeatWorkload().create(nowhere, None, {"template": NOTHING})
