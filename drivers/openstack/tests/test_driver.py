"""OpenStackDriver called as nfvd calls it (framework.testing), against the real Heat."""

from __future__ import annotations

import logging
import os
import time
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from framework import LifecycleRequest, ResourceDriverError
from framework.testing import check_plugin, find_reference, run_lifecycle
from framework.workloads import WorkloadGone
from openstack_cloud import TEMPLATES, Admin, unique

from nfvd_driver_openstack import HeatWorkload, LocationError, OpenStackDriver, cloud_region
from nfvd_driver_openstack.driver import _topology_stack
from nfvd_driver_openstack.properties import driver_template, stack_name, stack_parameters

HEAT_YAML = """
heat_template_version: 2018-08-31
parameters:
  greeting: {type: string}
  size: {type: number, default: 1}
  system_resourceId: {type: string}
  resourceName: {type: string, default: ""}
resources:
  message:
    type: OS::Heat::Value
    properties: {value: {list_join: [" ", [{get_param: greeting}, {get_param: resourceName}]]}}
outputs:
  message: {value: {get_attr: [message, value]}}
  size: {value: {get_param: size}}
  resourceId: {value: {get_param: system_resourceId}}
"""

FAILING_YAML = """
heat_template_version: 2018-08-31
resources:
  boom:
    type: OS::Heat::TestResource
    properties: {fail: true, value: boom}
"""


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> OpenStackDriver:
    monkeypatch.setenv("NFVD_PLUGIN_OPENSTACK_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("NFVD_PLUGIN_OPENSTACK_CREATE_TIMEOUT", "60")
    monkeypatch.setenv("NFVD_PLUGIN_OPENSTACK_DELETE_TIMEOUT", "60")
    return OpenStackDriver()


def location(admin: Admin, **overrides: Any) -> dict[str, Any]:
    """A deployment location as Ignition's OpenStack driver documents it."""
    env = admin.env
    api_url, _, auth_api = env["OS_AUTH_URL"].rpartition("/")
    properties = {"os_api_url": api_url, "os_auth_api": auth_api,
                  "os_auth_username": env["OS_USERNAME"],
                  "os_auth_password": env["OS_PASSWORD"],
                  "os_auth_user_domain_name": env["OS_USER_DOMAIN_NAME"],
                  "os_auth_project_name": env["OS_PROJECT_NAME"],
                  "os_auth_project_domain_name": env["OS_PROJECT_DOMAIN_NAME"]}
    return {"name": "lab", "type": "Openstack", "properties": {**properties, **overrides}}


def test_create_find_reference_and_delete(admin: Admin, driver: OpenStackDriver,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = unique("nfvd-resource")
    resource_id = str(uuid.uuid4())
    where = location(admin)
    system = {"resourceId": resource_id, "resourceName": name}
    files = {"heat.yaml": HEAT_YAML}
    created = run_lifecycle(driver, "Create", files=files, deployment_location=where,
                            system_properties=system,
                            resource_properties={"greeting": "hello", "size": "3",
                                                 "unused": "not a parameter"},
                            request_properties={"size": "4"})
    stack_id = created.associated_topology[name]["id"]
    admin.track(None, stack_id)
    assert created.associated_topology == {name: {"id": stack_id, "type": "Openstack"}}
    assert created.outputs == {"message": f"hello {name}", "size": 4,
                               "resourceId": resource_id}
    assert created.details == {"stackId": stack_id, "stackName": name,
                               "stackStatus": "CREATE_COMPLETE"}

    again = run_lifecycle(driver, "Create", files=files, deployment_location=where,
                          system_properties=system, resource_properties={"greeting": "other"})
    assert again.associated_topology == created.associated_topology
    assert again.outputs == created.outputs

    found = find_reference(driver, name, deployment_location=where)
    assert found is not None
    assert (found.resource_id, found.associated_topology, found.outputs) == (
        stack_id, created.associated_topology, created.outputs)

    assert run_lifecycle(driver, "Install", files=files, deployment_location=where,
                         system_properties=system).outputs == {}

    deleted = run_lifecycle(driver, "Delete", files=files, deployment_location=where,
                            system_properties=system,
                            associated_topology=created.associated_topology)
    assert deleted.associated_topology == {name: None}
    with pytest.raises(WorkloadGone):
        admin.workload.show(admin.region, None, stack_id)
    assert find_reference(driver, name, deployment_location=where) is None
    again_deleted = run_lifecycle(driver, "Delete", files=files, deployment_location=where,
                                  system_properties=system,
                                  associated_topology=created.associated_topology)
    assert again_deleted.associated_topology == {name: None}
    assert f"stack {name} created as {stack_id}" in caplog.text
    assert admin.env["OS_PASSWORD"] not in caplog.text


def test_a_failing_template_fails_the_create_and_its_rollback_deletes_it(
        admin: Admin, driver: OpenStackDriver) -> None:
    name = unique("nfvd-failing")
    where = location(admin)
    system = {"resourceId": str(uuid.uuid4()), "resourceName": name}
    with pytest.raises(ResourceDriverError) as caught:
        run_lifecycle(driver, "Create", files={"heat.yaml": FAILING_YAML},
                      deployment_location=where, system_properties=system)
    assert caught.value.failure_code == "INFRASTRUCTURE_ERROR"
    assert str(caught.value).startswith(f"stack {name} is CREATE_FAILED: Resource CREATE "
                                        "failed: ")
    assert "Test Resource failed boom" in str(caught.value)
    [stack] = admin.workload.find(admin.region, None, name)
    admin.track(None, stack["id"])
    driver.rollback_lifecycle(LifecycleRequest(
        lifecycle_name="Create", deployment_location=where,
        system_properties={key: {"type": "string", "value": value}
                           for key, value in system.items()}))
    assert admin.workload.find(admin.region, None, name) == []


def test_a_template_heat_rejects_fails_the_create_with_heats_reason(
        admin: Admin, driver: OpenStackDriver) -> None:
    with pytest.raises(ResourceDriverError, match=r"HTTP 400: .*OS::Nfvd::Nope") as caught:
        run_lifecycle(driver, "Create", deployment_location=location(admin),
                      files={"heat.yaml": "heat_template_version: 2018-08-31\nresources:\n"
                                          "  x: {type: OS::Nfvd::Nope}\n"},
                      system_properties={"resourceName": unique("nfvd-rejected")})
    assert caught.value.failure_code == "INFRASTRUCTURE_ERROR"


def test_nested_templates_come_from_the_files_directory(admin: Admin,
                                                        driver: OpenStackDriver) -> None:
    name = unique("nfvd-nested")
    files = {"heat.yaml": "heat_template_version: 2018-08-31\nresources:\n"
                          "  vm: {type: nested/server.yaml, properties: {name: vm-9, "
                          "flavor: small}}\noutputs:\n  vm: {value: {get_attr: [vm, name]}}\n",
             "files/nested/server.yaml": (TEMPLATES / "server.yaml").read_text()}
    created = run_lifecycle(driver, "Create", files=files, deployment_location=location(admin),
                            system_properties={"resourceName": name})
    admin.track(None, created.associated_topology[name]["id"])
    assert created.outputs == {"vm": "vm-9"}


def test_a_wrong_password_fails_without_the_password(admin: Admin,
                                                     driver: OpenStackDriver) -> None:
    password = f"Wrong-{uuid.uuid4().hex}"
    where = location(admin, os_auth_password=password)
    with pytest.raises(ResourceDriverError) as caught:
        find_reference(driver, "anything", deployment_location=where)
    assert caught.value.failure_code == "INFRASTRUCTURE_ERROR"
    assert "refused to authenticate user admin" in str(caught.value)
    assert password not in str(caught.value)


# What needs no cloud.

def test_it_is_registered_and_conforms() -> None:
    drivers = {e.name: e for e in entry_points(group="nfvd.resource_drivers")}
    workloads = {e.name: e for e in entry_points(group="nfvd.workload_types")}
    assert drivers["openstack"].load() is OpenStackDriver
    assert workloads["heat"].load() is HeatWorkload
    assert check_plugin(OpenStackDriver, "resource") == []
    assert OpenStackDriver().infrastructure_types == ("Openstack",)


def test_other_lifecycles_complete_without_the_cloud(driver: OpenStackDriver) -> None:
    for name in ("Install", "Configure", "Start", "Stop", "Integrity", "Uninstall"):
        result = run_lifecycle(driver, name, system_properties={"resourceName": "x"},
                               deployment_location={"name": "nowhere", "type": "Openstack"})
        assert (result.outputs, result.associated_topology) == ({}, {})


def test_a_create_without_a_usable_location_or_template_is_an_internal_error(
        driver: OpenStackDriver) -> None:
    with pytest.raises(ResourceDriverError, match="os_auth_url") as caught:
        run_lifecycle(driver, "Create", files={"heat.yaml": HEAT_YAML},
                      deployment_location={"name": "lab", "type": "Openstack"})
    assert caught.value.failure_code == "INTERNAL_ERROR"
    nowhere = {"name": "lab", "type": "Openstack", "properties": {
        "os_auth_url": "http://127.0.0.1:9/v3", "os_auth_username": "user",
        "os_auth_password": "password", "os_auth_project_name": "project"}}
    with pytest.raises(ResourceDriverError, match="heat.yaml") as caught:
        run_lifecycle(driver, "Create", files={"README": "no template"},
                      deployment_location=nowhere)
    assert caught.value.failure_code == "INTERNAL_ERROR"


def test_deployment_location_properties_as_ignition_names_them(tmp_path: Path) -> None:
    region = cloud_region({"name": "lab", "type": "Openstack", "properties": {
        "os_api_url": "https://cloud.example:5000/", "os_auth_api": "/identity/v3",
        "os_auth_username": "jack", "os_auth_password": {"type": "password", "value": "pw"},
        "os_auth_user_domain_name": "users", "os_auth_project_id": "0" * 32,
        "os_auth_project_domain_name": "projects", "os_region_name": "RegionTwo",
        "os_interface": "internal", "os_request_timeout": "12.5",
        "os_cacert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}})
    assert (region.auth_url, region.username, region.password) == (
        "https://cloud.example:5000/identity/v3", "jack", "pw")
    assert (region.user_domain, region.project_domain, region.default_project) == (
        "users", "projects", "0" * 32)
    assert (region.catalog_region, region.region, region.interface, region.timeout) == (
        "RegionTwo", "RegionTwo", "internal", 12.5)
    assert region.ca_file is not None
    assert Path(region.ca_file).read_text() == (
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert oct(os.stat(os.path.dirname(region.ca_file)).st_mode & 0o777) == "0o700"
    assert "pw" not in repr(region)

    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    credential = cloud_region({"name": "lab", "properties": {
        "os_auth_url": "http://k:5000/v3", "os_auth_application_credential_id": "id1",
        "os_auth_application_credential_secret": "s3", "os_auth_project_name": "p",
        "os_cacert": str(bundle)}})
    assert (credential.application_credential_id, credential.ca_file) == ("id1", str(bundle))
    assert (credential.user_domain, credential.project_domain, credential.region) == (
        "Default", "Default", "lab")


@pytest.mark.parametrize(("properties", "reason"), [
    ({}, "os_auth_url .*or os_api_url and os_auth_api, is required"),
    ({"os_auth_url": "http://k/v3", "os_auth_username": "u", "os_auth_password": "p"},
     "os_auth_project_id or os_auth_project_name is required"),
    ({"os_auth_url": "http://k/v3", "os_auth_project_name": "p", "os_auth_username": "u"},
     "os_auth_username and os_auth_password, or os_auth_application_credential_id"),
    ({"os_auth_user_id": "abc"}, "os_auth_user_id is not supported; use os_auth_username"),
    ({"os_auth_enabled": False}, "os_auth_enabled false is not supported"),
    ({"os_auth_url": "http://k/v3", "os_auth_project_name": "p", "os_auth_username": "u",
      "os_auth_password": "p", "os_request_timeout": "soon"}, "os_request_timeout must be"),
])
def test_an_unusable_location_says_which_property(properties: dict[str, Any],
                                                  reason: str) -> None:
    with pytest.raises(LocationError, match=reason):
        cloud_region({"name": "lab", "properties": properties})


def request(**fields: Any) -> LifecycleRequest:
    values: dict[str, Any] = {"lifecycle_name": "Create", "system_properties": {},
                              "deployment_location": {}}
    values.update(fields)
    return LifecycleRequest(**values)


def test_stack_names_follow_the_resource_name() -> None:
    def prop(value: str) -> dict[str, Any]:
        return {"type": "string", "value": value}

    assert stack_name(request(system_properties={"resourceName": prop("vnf__db"),
                                                 "resourceId": prop("r1")})) == "vnf__db"
    assert stack_name(request(system_properties={"resourceName": prop("1 db/primary")})) == (
        "s1dbprimary")
    assert stack_name(request(system_properties={"resourceId": prop("ab-12")})) == "ab-12"
    assert stack_name(request(request_id="9f0e")) == "s9f0e"
    assert len(stack_name(request(system_properties={"resourceName": prop("a" * 300)}))) == 255
    with pytest.raises(ResourceDriverError, match="names no resource"):
        stack_name(request())


def test_parameters_are_the_declared_properties_request_first() -> None:
    def props(**values: Any) -> dict[str, Any]:
        return {name: {"type": "string", "value": value} for name, value in values.items()}

    made = request(system_properties=props(resourceId="r1", resourceName="n", size="s"),
                   resource_properties=props(size="r", flavor="small", image=None),
                   request_properties={"flavor": "large"})
    declared = {"size", "flavor", "image", "system_resourceId", "resourceName", "absent"}
    assert stack_parameters(made, declared) == {
        "size": "r", "flavor": "large", "system_resourceId": "r1", "resourceName": "n"}


def test_the_template_and_its_files_come_from_the_driver_directory(tmp_path: Path) -> None:
    (tmp_path / "files" / "nested").mkdir(parents=True)
    (tmp_path / "heat.yml").write_text("heat_template_version: 2018-08-31\n")
    (tmp_path / "files" / "server.yaml").write_text("server")
    (tmp_path / "files" / "nested" / "port.yaml").write_text("port")
    assert driver_template(str(tmp_path)) == (
        "heat_template_version: 2018-08-31\n",
        {"server.yaml": "server", "nested/port.yaml": "port"})
    (tmp_path / "files" / "blob.bin").write_bytes(b"\xff\xfe")
    with pytest.raises(ResourceDriverError, match="files/blob.bin is not UTF-8 text"):
        driver_template(str(tmp_path))
    with pytest.raises(ResourceDriverError, match="no driver files"):
        driver_template(None)


def test_a_cancelled_wait_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stuck:
        def get(self, stack_id: str) -> dict[str, Any]:
            return {"id": stack_id, "stack_name": "s", "stack_status": "CREATE_IN_PROGRESS"}

    monkeypatch.setenv("NFVD_PLUGIN_OPENSTACK_POLL_INTERVAL", "0.01")
    monkeypatch.setenv("NFVD_PLUGIN_OPENSTACK_CREATE_TIMEOUT", "0.05")
    driver = OpenStackDriver()
    calls = iter([False, True])
    with pytest.raises(ResourceDriverError, match="cancelled while stack s is "
                                                  "CREATE_IN_PROGRESS") as caught:
        driver._wait(Stuck(), "1", lambda: next(calls), 60)  # type: ignore[arg-type]
    assert caught.value.failure_code == "INTERNAL_ERROR"
    started = time.monotonic()
    with pytest.raises(ResourceDriverError, match="still CREATE_IN_PROGRESS after 0.05s"):
        driver._wait(Stuck(), "1", lambda: False, 0.05)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1


def test_the_stack_of_a_topology_by_name_then_ignitions_entry_then_type() -> None:
    stack = {"id": "s1", "type": "Openstack"}
    assert _topology_stack({"other": {"id": "x", "type": "Openstack"}, "db": stack}, "db") == (
        "db", "s1")
    assert _topology_stack({"InfrastructureStack": stack}, "db") == ("InfrastructureStack", "s1")
    assert _topology_stack({"vm": {"id": "v", "type": "VM"}, "net": {"id": "n",
                                                                     "type": "openstack"}},
                           "db") == ("net", "n")
    assert _topology_stack({"db": None, "vm": {"id": "v", "type": "VM"}}, "db") == (None, None)
