"""The resource driver API as Brent uses it: HTTP in, completion on a real Kafka broker."""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka.admin import AdminClient
from fixtures.brent import (
    EXECUTE,
    FIND,
    TOPIC,
    ExecutionEvents,
    assert_driver_bug,
    execute_body,
    package,
)
from fixtures.servers import ThreadServer

from framework.engine import TaskSpec
from framework.plugins.resource import (
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    ResourceDriverError,
)
from framework.testing import FakeResourceDriver

Serve = Callable[..., ThreadServer]


@pytest.fixture
def server(serve: Serve) -> ThreadServer:
    return serve()


def post(server: ThreadServer, path: str, body: Any, **headers: str) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=headers, timeout=10)


def test_execute_answers_202_then_in_progress_and_complete_on_kafka(
        server: ThreadServer, events: ExecutionEvents) -> None:
    body = execute_body("Create")
    name = body["systemProperties"]["resourceName"]["value"]
    response = post(server, EXECUTE, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["associatedTopology"] == {} and accepted["version"] == "1.0.0"
    request_id = accepted["requestId"]

    done = events.terminal(request_id)
    assert done["status"] == "COMPLETE"
    assert done["outputs"] == {"lifecycle": "Create"}
    assert list(done["associatedTopology"]) == [name]
    assert done["associatedTopology"][name]["type"] == "Fake"
    assert [m["status"] for m in events.by_request[request_id]] == ["IN_PROGRESS", "COMPLETE"]
    assert events.headers[request_id][1]["nfvd-message-id"] == f"{request_id}:terminal".encode()

    # the request id is the engine operation, with its task and result
    operation = requests.get(f"{server.url}/api/lcm/operations/{request_id}", timeout=5).json()
    assert operation["kind"] == "resource.execution" and operation["state"] == "COMPLETED"
    assert operation["request"]["driver"] == "fake"
    assert operation["tasks"][0]["result"]["outputs"] == {"lifecycle": "Create"}


def test_driver_failure_is_failed_with_its_code(server: ThreadServer,
                                                events: ExecutionEvents) -> None:
    first = post(server, EXECUTE, body := execute_body("Create")).json()["requestId"]
    assert events.terminal(first)["status"] == "COMPLETE"
    again = post(server, EXECUTE, {**body, "lifecycleName": "Create"}).json()["requestId"]
    failed = events.terminal(again)
    assert failed["status"] == "FAILED"
    assert failed["failureDetails"]["failureCode"] == "RESOURCE_ALREADY_EXISTS"
    assert "exists" in failed["failureDetails"]["description"]
    assert failed["outputs"] == {} and failed["associatedTopology"] == {}


def test_exactly_one_terminal_message_even_when_an_operator_retries(
        server: ThreadServer, events: ExecutionEvents) -> None:
    body = execute_body("Install", requestProperties={
        "fakeFailure": {"type": "string", "value": "INSUFFICIENT_CAPACITY"}})
    request_id = post(server, EXECUTE, body).json()["requestId"]
    assert events.terminal(request_id)["failureDetails"]["failureCode"] == \
        "INSUFFICIENT_CAPACITY"
    retried = requests.post(f"{server.url}/api/lcm/operations/{request_id}/retry", timeout=5)
    assert retried.status_code == 200, retried.text
    # a later execution's terminal message proves the relay went past the retry's events
    later = post(server, EXECUTE, execute_body("Install")).json()["requestId"]
    events.terminal(later)
    events.poll(0.5)
    assert len(events.terminals(request_id)) == 1


def test_cancel_by_an_operator_is_reported_failed_once(server: ThreadServer,
                                                      events: ExecutionEvents) -> None:
    body = execute_body("Configure", requestProperties={"fakeDelay": "1.5"})
    request_id = post(server, EXECUTE, body).json()["requestId"]
    cancelled = requests.post(f"{server.url}/api/lcm/operations/{request_id}/cancel", timeout=5)
    assert cancelled.status_code == 200, cancelled.text
    failed = events.terminal(request_id)
    assert failed["failureDetails"] == {"failureCode": "INTERNAL_ERROR",
                                        "description": "cancelled by an operator"}
    requests.post(f"{server.url}/api/lcm/operations/{request_id}/rollback", timeout=5)
    later = post(server, EXECUTE, execute_body("Install")).json()["requestId"]
    events.terminal(later)
    events.poll(0.3)
    assert len(events.terminals(request_id)) == 1


def test_tenant_id_is_echoed_and_carried_on_kafka(server: ThreadServer,
                                                  events: ExecutionEvents) -> None:
    response = post(server, EXECUTE, execute_body("Start"), tenantId="tenant-42")
    assert response.status_code == 202
    assert response.headers["tenantId"] == "tenant-42"
    request_id = response.json()["requestId"]
    events.terminal(request_id)
    assert all(h["tenantId"] == b"tenant-42" for h in events.headers[request_id])
    without = post(server, EXECUTE, execute_body("Start"))
    assert "tenantId" not in without.headers
    events.terminal(other := without.json()["requestId"])
    assert all("tenantId" not in h for h in events.headers[other])


def test_completion_messages_go_to_the_configured_topic(
        serve: Serve, settings_factory: Callable[..., Any], kafka_broker: Any) -> None:
    server = serve(settings_factory(execution_events_topic="brent.lifecycle.events"))
    request_id = post(server, EXECUTE, execute_body("Create")).json()["requestId"]
    renamed = ExecutionEvents(kafka_broker.bootstrap_servers, topic="brent.lifecycle.events")
    try:
        assert renamed.terminal(request_id)["status"] == "COMPLETE"
        assert [m["status"] for m in renamed.by_request[request_id]] == [
            "IN_PROGRESS", "COMPLETE"]
    finally:
        renamed.close()
    # nothing on the default topic (which other tests may have made), read from its start
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    if TOPIC in admin.list_topics(timeout=5).topics:
        default = ExecutionEvents(kafka_broker.bootstrap_servers)
        try:
            default.poll(1.0)
            assert request_id not in default.by_request
        finally:
            default.close()


def test_each_driver_is_served_under_its_own_prefix(server: ThreadServer,
                                                    events: ExecutionEvents) -> None:
    # the prefix wins over the location type: no driver declares "Elsewhere"
    body = execute_body("Create", location_type="Elsewhere")
    response = post(server, "/drivers/fake/api/driver/lifecycle/execute", body)
    assert response.status_code == 202, response.text
    assert events.terminal(response.json()["requestId"])["status"] == "COMPLETE"
    name = body["systemProperties"]["resourceName"]["value"]
    found = post(server, "/drivers/fake/api/driver/references/find", {
        "instanceName": name, "driverFiles": body["driverFiles"],
        "deploymentLocation": body["deploymentLocation"]})
    assert found.status_code == 200 and found.json()["result"]["associatedTopology"][name]

    unknown = post(server, "/drivers/nope/api/driver/lifecycle/execute", body)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "no resource driver named 'nope'" in unknown.json()["detail"]


def test_unknown_infrastructure_type_is_400_naming_the_field(server: ThreadServer) -> None:
    response = post(server, EXECUTE, execute_body("Create", location_type="Kubernetes"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"].startswith("deploymentLocation.type: no resource driver serves "
                                        "infrastructure type 'Kubernetes'")
    assert problem["invalid-params"][0]["name"] == "deploymentLocation.type"


def test_the_default_driver_takes_types_no_driver_declares(
        serve: Serve, settings_factory: Callable[..., Any], events: ExecutionEvents) -> None:
    server = serve(settings_factory(default_resource_driver="fake"))
    response = post(server, EXECUTE, execute_body("Create", location_type="Kubernetes"))
    assert response.status_code == 202, response.text
    assert events.terminal(response.json()["requestId"])["status"] == "COMPLETE"


@pytest.mark.parametrize(("change", "field"), [
    ({"lifecycleName": None}, "lifecycleName"),
    ({"driverFiles": None}, "driverFiles"),
    ({"deploymentLocation": {"type": "Fake"}}, "name"),
    ({"systemProperties": {"p": {"value": "no type"}}}, "systemProperties.p"),
    ({"requestProperties": {"k": {"type": "key", "keyName": "k"}}}, "requestProperties.k"),
    ({"associatedTopology": {"vm": {"id": 5, "type": "VM"}}}, "associatedTopology.vm"),
])
def test_bad_requests_are_400_naming_the_field(server: ThreadServer, change: dict[str, Any],
                                                field: str) -> None:
    body = {k: v for k, v in {**execute_body(), **change}.items() if v is not None}
    response = post(server, EXECUTE, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


def test_a_body_without_content_type_is_taken_as_json(server: ThreadServer,
                                                     events: ExecutionEvents) -> None:
    body = execute_body("Create")
    raw = json.dumps(body).encode()
    answer = requests.post(server.url + EXECUTE, data=raw, timeout=10)  # no Content-Type
    assert answer.status_code == 202, answer.text
    assert events.terminal(answer.json()["requestId"])["status"] == "COMPLETE"
    del body["lifecycleName"]
    for data, named in ((json.dumps(body).encode(), "lifecycleName"), (b"{", "")):
        refused = requests.post(server.url + EXECUTE, data=data, timeout=10)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert named in refused.json()["detail"]


def test_nesting_is_bounded_and_what_is_accepted_can_be_shown(
        server: ThreadServer, events: ExecutionEvents) -> None:
    def nested(levels: int) -> Any:
        value: Any = "leaf"
        for _ in range(levels):
            value = [value]
        return value

    # the body, its properties map and the property make 3 levels around the value
    deep = execute_body("Create", resourceProperties={"p": {"type": "list",
                                                            "value": nested(62)}})
    refused = post(server, EXECUTE, deep)
    assert refused.status_code == 400, refused.text
    assert "nested more than 64 levels" in refused.json()["detail"]
    fits = execute_body("Create", resourceProperties={"p": {"type": "list",
                                                           "value": nested(61)}})
    request_id = post(server, EXECUTE, fits).json()["requestId"]
    assert events.terminal(request_id)["status"] == "COMPLETE"
    # an operator sees it (the view walks the request to hide secrets)
    shown = requests.get(f"{server.url}/api/lcm/operations/{request_id}", timeout=5)
    assert shown.status_code == 200, shown.text


def test_bare_and_null_property_values_are_string_properties(
        server: ThreadServer, events: ExecutionEvents) -> None:
    body = execute_body("Start", resourceProperties={"plain": "text", "count": 3, "gone": None})
    request_id = post(server, EXECUTE, body).json()["requestId"]
    events.terminal(request_id)
    operation = requests.get(f"{server.url}/api/lcm/operations/{request_id}", timeout=5).json()
    sent = operation["tasks"][0]["params"]["request"]["resourceProperties"]
    assert sent == {"plain": {"type": "string", "value": "text"},
                    "count": {"type": "string", "value": 3},
                    "gone": {"type": "string", "value": None}}


def _zip_with(name: str, data: bytes = b"x", mode: int = 0o100644) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("scripts/Create.sh")
        archive.writestr(info, "true\n")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(("driver_files", "problem"), [
    (lambda tmp: _zip_with(f"../{tmp.name}-escape"), "'..' components are not allowed"),
    (lambda tmp: _zip_with(str(tmp / "abs-escape")), "absolute paths are not allowed"),
    (lambda tmp: package({"a": "b"}, links={"link": str(tmp)}), "symlinks are not allowed"),
    (lambda tmp: _zip_with("bomb.bin", bytes(50 * 1024 * 1024)), "zip bomb"),
    (lambda tmp: base64.b64encode(b"not a zip").decode(), "not a zip file"),
    (lambda tmp: "%%%", "not valid base64"),
])
def test_refused_packages_are_400_and_write_nothing(
        server: ThreadServer, tmp_path: Path, driver_files: Callable[[Path], str],
        problem: str) -> None:
    before = set(os.listdir(tmp_path.parent)), set(os.listdir(tmp_path))
    body = execute_body("Create", driverFiles=driver_files(tmp_path))
    for path in (EXECUTE, FIND):
        sent = body if path == EXECUTE else {"instanceName": "x", "driverFiles": body[
            "driverFiles"], "deploymentLocation": body["deploymentLocation"]}
        response = post(server, path, sent)
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        assert detail.startswith("driverFiles: ") and problem in detail
    assert (set(os.listdir(tmp_path.parent)), set(os.listdir(tmp_path))) == before
    assert not any(name.endswith("escape") for name in os.listdir(tmp_path.parent))
    listed = requests.get(server.url + "/api/lcm/operations", timeout=5).json()["operations"]
    assert listed == []  # nothing was recorded


def test_find_reference_found_and_not_found(server: ThreadServer,
                                            events: ExecutionEvents) -> None:
    body = execute_body("Create")
    name = body["systemProperties"]["resourceName"]["value"]
    find = {"instanceName": name, "driverFiles": body["driverFiles"],
            "deploymentLocation": body["deploymentLocation"]}
    assert post(server, FIND, find).json() == {"result": None}
    events.terminal(post(server, EXECUTE, body).json()["requestId"])
    found = post(server, FIND, find, tenantId="t-1")
    assert found.status_code == 200 and found.headers["tenantId"] == "t-1"
    result = found.json()["result"]
    assert set(result) == {"resourceId", "associatedTopology", "outputs"}
    assert result["associatedTopology"][name]["id"] == result["resourceId"]


def test_driver_api_takes_packages_larger_than_the_general_body_limit(
        serve: Serve, settings_factory: Callable[..., Any], events: ExecutionEvents) -> None:
    server = serve(settings_factory(max_body_bytes=64 * 1024,
                                    driver_files_max_bytes=512 * 1024))
    big = os.urandom(200 * 1024)  # incompressible: the package is about as large
    body = execute_body("Create", files={"scripts/Create.sh": "true\n", "blob.bin": big})
    response = post(server, EXECUTE, body)
    assert response.status_code == 202, response.text
    too_big = execute_body("Create", files={"blob.bin": os.urandom(600 * 1024)})
    refused = post(server, EXECUTE, too_big)
    assert refused.status_code in (400, 413)
    assert refused.headers["content-type"] == "application/problem+json"
    # the other APIs keep the general limit
    assert requests.post(server.url + "/api/lcm/plan", data=b"x" * 70 * 1024,
                         headers={"Content-Type": "application/json"},
                         timeout=5).status_code == 413


def test_secret_property_values_are_hidden_from_operators(server: ThreadServer,
                                                         events: ExecutionEvents) -> None:
    body = execute_body("Start", requestProperties={
        "sshKey": {"type": "key", "keyName": "ops", "privateKey": "-----PRIVATE-KEY-77-----"},
        "dbPassword": {"type": "password", "value": "pw-secret-77"},
        "plain": {"type": "string", "value": "visible-77"}})
    request_id = post(server, EXECUTE, body).json()["requestId"]
    events.terminal(request_id)
    shown = requests.get(f"{server.url}/api/lcm/operations/{request_id}", timeout=5).text
    assert "PRIVATE-KEY-77" not in shown and "pw-secret-77" not in shown
    assert "visible-77" in shown and '"keyName":"ops"' in shown


class MisbehavingFind(FakeResourceDriver):
    """find_reference raises, or returns what no orchestrator can be given, by name."""

    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        if request.instance_name == "raises":
            raise RuntimeError("connection to 10.0.0.9 refused for user admin")
        if request.instance_name == "a-dict":
            return {"resourceId": "r-1"}  # type: ignore[return-value]
        if request.instance_name == "no-id":
            return FindReferenceResult(resource_id="")
        return FindReferenceResult(resource_id="r-1", outputs={"blob": "x" * 300_000})


@pytest.mark.parametrize(("instance", "detail"), [
    ("a-dict", "driver 'fake' returned a dict, not a FindReferenceResult"),
    ("no-id", "driver 'fake' returned a resource_id that is not a non-empty string: ''"),
    ("huge", "driver 'fake' returned outputs and associatedTopology of 300047 bytes as "
             "compact JSON, more than the limit of 262144 (setting driver_result_max_bytes)"),
])
def test_a_find_result_no_orchestrator_can_take_is_the_drivers_failure(
        server: ThreadServer, instance: str, detail: str) -> None:
    server.runtime.plugins.resource_drivers["fake"] = MisbehavingFind()
    body = execute_body("Create")
    response = post(server, FIND, {"instanceName": instance, "driverFiles": body["driverFiles"],
                                   "deploymentLocation": body["deploymentLocation"]})
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == detail
    assert response.json()["failureCode"] == "INTERNAL_ERROR"


def test_a_find_that_raises_is_the_drivers_failure_without_its_internals(
        server: ThreadServer, caplog: pytest.LogCaptureFixture) -> None:
    server.runtime.plugins.resource_drivers["fake"] = MisbehavingFind()
    body = execute_body("Create")
    response = post(server, FIND, {"instanceName": "raises", "driverFiles": body["driverFiles"],
                                   "deploymentLocation": body["deploymentLocation"]})
    assert_driver_bug(response, "find_reference", caplog.records, "10.0.0.9", "RuntimeError")


class OddPlans(FakeResourceDriver):
    """Plans by lifecycle name: raises ResourceDriverError, or returns no TaskSpec."""

    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        if request.lifecycle_name == "Refused":
            raise ResourceDriverError("flavor m1.huge is not offered", "INSUFFICIENT_CAPACITY")
        return [{"name": "step", "type": "lifecycle"}]  # type: ignore[list-item]


def test_an_execution_the_driver_cannot_plan_is_the_drivers_failure(
        server: ThreadServer, events: ExecutionEvents) -> None:
    bug = post(server, EXECUTE, execute_body("Install", requestProperties={
        "fakePlanError": {"type": "string", "value": "yes"}}))
    assert bug.status_code == 502, bug.text
    assert bug.json()["failureCode"] == "INTERNAL_ERROR"
    assert bug.json()["detail"].startswith("driver 'fake' failed unexpectedly in plan ")
    server.runtime.plugins.resource_drivers["fake"] = OddPlans()
    refused = post(server, EXECUTE, execute_body("Refused"))
    assert (refused.status_code, refused.json()["failureCode"], refused.json()["detail"]) == \
        (502, "INSUFFICIENT_CAPACITY",
         "driver 'fake': INSUFFICIENT_CAPACITY: flavor m1.huge is not offered")
    odd = post(server, EXECUTE, execute_body("Install"))
    assert (odd.status_code, odd.json()["detail"]) == \
        (502, "driver 'fake' returned a plan that is not a sequence of TaskSpec")
