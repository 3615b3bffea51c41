"""nfvd's resource driver API beside IBM's Ignition 3.6.3, the framework Brent's drivers are
built on: the same requests to both, and what Brent sees of each compared.

The peer runs for real: ``ignition-framework`` from PyPI in a virtualenv of its own (made on
first use, kept under ``~/.cache/nfvd-peers``), serving ``benchmarks/peers/ignition_driver.py``,
a driver that runs the same package scripts as nfvd's script driver and publishes through
Ignition's own Kafka messaging. Both publish to a broker of the module's own: Ignition's messages
have no key, which the session broker's other readers refuse. Where the two differ on purpose
(errors, the message key), the tests say so.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from fixtures.brent import EXECUTE, FIND, FIND_SCRIPT, ExecutionEvents, execute_body
from fixtures.kafka import free_port
from fixtures.peers import ignition as ignition_peer
from fixtures.servers import ThreadServer

from framework.config import Settings
from framework.messaging import EmbeddedBroker

CREATE = """\
printf '{"flavor": "%s", "size": "%s", "lifecycle": "%s", "site": "%s"}' "$NFVD_PROP_flavor" \\
    "$NFVD_PROP_size" "$NFVD_LIFECYCLE" "$NFVD_DL_site" > "$NFVD_OUTPUTS_FILE"
printf '{"vm-%s": {"id": "vm-id-%s", "type": "VM"}}' "$NFVD_PROP_size" "$NFVD_PROP_size" \\
    > "$NFVD_TOPOLOGY_FILE"
"""
FAIL = "echo 'quota exceeded' >&2\nexit 4\n"
FILES = {"scripts/Create.sh": CREATE, "scripts/Install.sh": FAIL,
         "scripts/FindReference.sh": FIND_SCRIPT}
LOCATION = {"name": "lab", "type": "Script", "properties": {"site": "north"}}


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    started = EmbeddedBroker(free_port())
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def ignition(broker: EmbeddedBroker,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the Ignition driver, publishing on the module's broker."""
    workspace = tmp_path_factory.mktemp("ignition")
    python, app = ignition_peer()
    port = free_port()
    with (workspace / "ignition.log").open("wb") as log:
        process = subprocess.Popen(
            [str(python), str(app), str(port), broker.bootstrap_servers,
             str(workspace)], cwd=workspace, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (workspace / "ignition.log").read_text()[-3000:]
            try:
                if requests.get(url + "/management/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "Ignition did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def nfvd(serve: Callable[..., ThreadServer], settings_factory: Callable[..., Settings],
         broker: EmbeddedBroker) -> str:
    return serve(settings_factory(kafka_bootstrap_servers=broker.bootstrap_servers)).url


@pytest.fixture
def peer_events(broker: EmbeddedBroker) -> Iterator[ExecutionEvents]:
    """The execution events of both sides: Ignition's messages have no key."""
    reader = ExecutionEvents(broker.bootstrap_servers, keyed=False)
    yield reader
    reader.close()


def _both(nfvd: str, ignition: str, path: str, body: dict[str, Any],
          **headers: str) -> tuple[requests.Response, requests.Response]:
    return (requests.post(nfvd + path, json=body, headers=headers, timeout=10),
            requests.post(ignition + path, json=body, headers=headers, timeout=10))


def test_execute_is_accepted_and_reported_alike(nfvd: str, ignition: str,
                                                peer_events: ExecutionEvents) -> None:
    body = execute_body("Create", location_type="Script", files=FILES,
                        deploymentLocation=LOCATION,
                        # typed, and bare, which both take as a string
                        resourceProperties={"flavor": "m1.small",
                                            "size": {"type": "integer", "value": 3}})
    ours, theirs = _both(nfvd, ignition, EXECUTE, body)
    assert (ours.status_code, theirs.status_code) == (202, 202), (ours.text, theirs.text)
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    accepted, peer_accepted = ours.json(), theirs.json()
    assert set(accepted) == set(peer_accepted) == {"requestId", "associatedTopology", "version"}
    assert accepted["version"] == peer_accepted["version"]

    done = peer_events.terminal(accepted["requestId"])
    peer_done = peer_events.terminal(peer_accepted["requestId"])
    assert set(done) == set(peer_done)
    assert done["status"] == peer_done["status"] == "COMPLETE"
    assert done["outputs"] == peer_done["outputs"] == {
        "flavor": "m1.small", "size": "3", "lifecycle": "Create", "site": "north"}
    assert done["associatedTopology"] == peer_done["associatedTopology"] == {
        "vm-3": {"id": "vm-id-3", "type": "VM"}}
    assert done["version"] == peer_done["version"]


#: Requests Ignition accepts, beyond the plain one: nfvd must accept them too.
ACCEPTED = {
    "a location with its name only": {"deploymentLocation": {"name": "lab"}},
    "a location whose type and properties are null": {
        "deploymentLocation": {"name": "lab", "type": None, "properties": None}},
    "null topology": {"associatedTopology": None},
    "a removed topology entry": {"associatedTopology": {"gone": None}},
    "a topology entry with more members": {
        "associatedTopology": {"vm": {"id": "1", "type": "VM", "extra": 1}}},
    "property values of every JSON kind": {"resourceProperties": {
        "n": {"type": "integer", "value": 3}, "b": {"type": "boolean", "value": True},
        "l": {"type": "list", "value": [1, "a"]}, "m": {"type": "map", "value": {"a": 1}},
        "z": {"type": "string", "value": None}}},
    "bare property values": {"resourceProperties": {"n": 5, "z": None},
                             "systemProperties": {"resourceId": "abc"}},
    "a key property": {"requestProperties": {"k": {
        "type": "key", "keyName": "kk", "privateKey": "PRIVATE", "publicKey": "PUBLIC"}}},
    "no resource or request properties, no system property": {
        "systemProperties": {}, "resourceProperties": None, "requestProperties": None},
    "a member neither knows": {"resourceSpecification": {"x": 1}},
}


@pytest.mark.parametrize("change", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_ignition_accepts_nfvd_accepts_and_completes(
        nfvd: str, ignition: str, peer_events: ExecutionEvents, change: dict[str, Any]) -> None:
    body = {**execute_body("Create", location_type="Script", files=FILES), **change}
    for name in ("resourceProperties", "requestProperties"):
        if body[name] is None:  # Ignition answers 500 to a null: leave the member out
            del body[name]
    # the driver's own base URL, as Brent is given one per driver (no type to dispatch on)
    ours = requests.post(nfvd + "/drivers/script" + EXECUTE, json=body, timeout=10)
    theirs = requests.post(ignition + EXECUTE, json=body, timeout=10)
    assert (ours.status_code, theirs.status_code) == (202, 202), ours.text
    for answer in (ours, theirs):
        assert peer_events.terminal(answer.json()["requestId"])["status"] == "COMPLETE"


def test_a_chunked_body_is_taken_alike(nfvd: str, ignition: str,
                                       peer_events: ExecutionEvents) -> None:
    body = json.dumps(execute_body("Create", location_type="Script", files=FILES)).encode()

    def chunks() -> Iterator[bytes]:  # requests sends a generator chunked
        yield from (body[start:start + 512] for start in range(0, len(body), 512))

    for url in (nfvd + "/drivers/script" + EXECUTE, ignition + EXECUTE):
        answer = requests.post(url, data=chunks(),
                               headers={"Content-Type": "application/json"}, timeout=10)
        assert answer.status_code == 202, answer.text
        assert peer_events.terminal(answer.json()["requestId"])["status"] == "COMPLETE"


#: Requests Ignition 3.6.3 accepts although its own API description refuses them, or that no
#: driver can act on: nfvd answers 400 naming the field.
REFUSED = {
    "an empty lifecycleName": ("lifecycleName", {"lifecycleName": ""}),
    "a lifecycleName that is a number": ("lifecycleName", {"lifecycleName": 5}),
    "a location without a name": ("name", {"deploymentLocation": {"type": "Script"}}),
}


@pytest.mark.parametrize(("field", "change"), REFUSED.values(), ids=REFUSED.keys())
def test_what_ignition_lets_through_by_mistake_nfvd_refuses(
        nfvd: str, ignition: str, field: str, change: dict[str, Any]) -> None:
    body = {**execute_body("Start", location_type="Script", files=FILES), **change}
    ours = requests.post(nfvd + "/drivers/script" + EXECUTE, json=body, timeout=10)
    theirs = requests.post(ignition + EXECUTE, json=body, timeout=10)
    assert theirs.status_code == 202
    assert ours.status_code == 400
    assert ours.headers["content-type"] == "application/problem+json"
    assert field in ours.json()["detail"]


def test_a_failure_is_reported_in_the_same_shape(nfvd: str, ignition: str,
                                                 peer_events: ExecutionEvents) -> None:
    body = execute_body("Install", location_type="Script", files=FILES)
    ours, theirs = _both(nfvd, ignition, EXECUTE, body)
    failed = peer_events.terminal(ours.json()["requestId"])
    peer_failed = peer_events.terminal(theirs.json()["requestId"])
    assert set(failed) == set(peer_failed)
    assert failed["status"] == peer_failed["status"] == "FAILED"
    assert set(failed["failureDetails"]) == set(peer_failed["failureDetails"]) == {
        "failureCode", "description"}
    assert "quota exceeded" in failed["failureDetails"]["description"]


def test_tenant_id_is_echoed_and_carried_alike(nfvd: str, ignition: str,
                                               peer_events: ExecutionEvents) -> None:
    body = execute_body("Create", location_type="Script", files=FILES)
    ours, theirs = _both(nfvd, ignition, EXECUTE, body, tenantId="tenant-7")
    assert ours.headers["tenantId"] == theirs.headers["tenantId"] == "tenant-7"
    for response in (ours, theirs):
        request_id = response.json()["requestId"]
        peer_events.terminal(request_id)
        assert peer_events.headers[request_id][-1]["tenantId"] == b"tenant-7"


def test_find_reference_answers_alike(nfvd: str, ignition: str) -> None:
    find = {"instanceName": "unknown", "driverFiles": execute_body(files=FILES)["driverFiles"],
            "deploymentLocation": LOCATION}
    ours, theirs = _both(nfvd, ignition, FIND, find)
    assert (ours.status_code, theirs.status_code) == (200, 200)
    assert ours.json() == theirs.json() == {"result": None}
    ours, theirs = _both(nfvd, ignition, FIND, {
        **find, "instanceName": "known",
        "deploymentLocation": {"name": "lab", "type": "Script", "properties": None}})
    assert (ours.status_code, theirs.status_code) == (200, 200)
    assert ours.json() == theirs.json() == {"result": {
        "resourceId": "res-1", "associatedTopology": {"net": {"id": "n-1", "type": "Network"}},
        "outputs": {"cidr": "10.1.0.0/24"}}}


def test_a_request_without_lifecycle_name_is_a_400_here_and_a_500_there(
        nfvd: str, ignition: str) -> None:
    body = execute_body("Create", location_type="Script", files=FILES)
    del body["lifecycleName"]
    ours, theirs = _both(nfvd, ignition, EXECUTE, body)
    # Ignition 3.6.3 fails in its error handler: a plain-text 500 that names nothing
    assert theirs.status_code == 500 and theirs.headers["content-type"].startswith("text/plain")
    assert ours.status_code == 400
    assert ours.headers["content-type"] == "application/problem+json"
    assert "lifecycleName" in ours.json()["detail"]


def test_nfvd_keys_its_messages_by_request_id_where_ignition_sends_none(
        nfvd: str, ignition: str, peer_events: ExecutionEvents) -> None:
    body = execute_body("Create", location_type="Script", files=FILES)
    ours, theirs = (response.json()["requestId"]
                    for response in _both(nfvd, ignition, EXECUTE, body))
    peer_events.terminal(ours)
    peer_events.terminal(theirs)
    # a key keeps one request's messages in order on one partition; Brent reads either
    assert set(peer_events.keys[ours]) == {ours.encode()}
    assert peer_events.keys[theirs] == [None]
