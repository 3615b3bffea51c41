"""The rolling update over real HTTP: nfvd's API, the reference coordination server as the EM,
the built-in sol002 script and package script files; order, the first ABORT, rollback."""

from __future__ import annotations

import base64
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.servers import ThreadServer

from framework.coordination.client import TOKENS
from framework.coordination.scripts import ScriptFailed, run_script
from framework.coordination.server import CoordinationServer, ServerOptions
from framework.plugins.fake import FakeResourceDriver

PASSWORD = "vnfc-Secr3t"  # noqa: S105 - a test credential that must never be shown
BASIC = {"authType": ["BASIC"], "paramsBasic": {"userName": "em", "password": PASSWORD}}
DONE = ("COMPLETED", "FAILED_TEMP", "ROLLED_BACK", "FAILED")


class Em:
    """The EM's policy: records every coordination (its action, its VNFC, how many driver
    calls had been made) and answers ABORT where a test says so."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.abort: set[tuple[str, str]] = set()
        self.driver: FakeResourceDriver | None = None
        self.lock = threading.Lock()

    def decide(self, request: Mapping[str, Any]) -> str:
        action = request["coordinationActionName"]
        vnfc = request["inputParams"]["vnfcInstanceId"]
        with self.lock:
            self.seen.append((action, vnfc, len(self.driver.calls) if self.driver else -1))
        return "ABORT" if (action, vnfc) in self.abort else "CONTINUE"


@pytest.fixture
def em() -> Iterator[tuple[Em, CoordinationServer]]:
    policy = Em()
    options = ServerOptions(basic_user="em", basic_password=PASSWORD, decide=policy.decide)
    with CoordinationServer(options).start() as server:
        yield policy, server


@pytest.fixture
def nfvd(serve: Callable[..., ThreadServer]) -> ThreadServer:
    return serve()


def fake_driver(server: ThreadServer) -> FakeResourceDriver:
    driver = server.runtime.plugins.resource_drivers["fake"]
    assert isinstance(driver, FakeResourceDriver)
    return driver


def vnfc_param(endpoint: str, action: str, **extra: Any) -> dict[str, Any]:
    return {"cp_name": "CP1", "username": "ubuntu", "password": PASSWORD, "endpoint": endpoint,
            "authentication": BASIC, "timeout": 20, "coordinationActionName": action, **extra}


def update(endpoint: str, old: str = "sol002", new: str = "sol002",
           **changes: Any) -> dict[str, Any]:
    """VNFCs a and b of VDU1, c of VDU2: c is updated first (the highest index)."""
    body: dict[str, Any] = {
        "vnfInstanceId": "vnf-1", "vnfdId": "vnfd-2", "driver": "fake",
        "deploymentLocation": {"name": "lab", "type": "Fake"},
        "vnfcResourceInfo": [{"id": "a", "vduId": "VDU1"}, {"id": "b", "vduId": "VDU1"},
                             {"id": "c", "vduId": "VDU2"}],
        "additionalParams": {
            "upgrade_type": "RollingUpdate",
            "lcm-operation-coordinate-old-vnf": old,
            "lcm-operation-coordinate-new-vnf": new,
            "vdu_params": [{"vdu_id": vdu,
                            "old_vnfc_param": vnfc_param(endpoint, "prv.test.drain"),
                            "new_vnfc_param": vnfc_param(endpoint, "prv.test.check")}
                           for vdu in ("VDU1", "VDU2")]}}
    body.update(changes)
    return body


def start(server: ThreadServer, body: Mapping[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{server.url}/api/lcm/rolling-updates", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def wait(server: ThreadServer, op_id: str, *states: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{server.url}/api/lcm/operations/{op_id}", timeout=5)
        op: dict[str, Any] = answer.json()
        if op["state"] in (states or DONE):
            assert PASSWORD not in answer.text
            return op
        if time.monotonic() > deadline:
            raise AssertionError(f"operation stayed {op['state']}: {op}")
        time.sleep(0.05)


def test_vnfcs_are_updated_one_by_one_from_the_highest_index(
        nfvd: ThreadServer, em: tuple[Em, CoordinationServer]) -> None:
    policy, coordination = em
    policy.driver = driver = fake_driver(nfvd)
    created = start(nfvd, update(coordination.url))
    assert created["kind"] == "vnf.rolling_update" and PASSWORD not in str(created)
    assert created["request"]["additionalParams"]["vdu_params"][0]["old_vnfc_param"][
        "authentication"]["paramsBasic"]["password"] == "****"
    done = wait(nfvd, created["id"])
    assert done["state"] == "COMPLETED", done
    # each VNFC: drain the old one, update it, check the new one; c, then b, then a
    assert policy.seen == [("prv.test.drain", "c", 0), ("prv.test.check", "c", 1),
                           ("prv.test.drain", "b", 1), ("prv.test.check", "b", 2),
                           ("prv.test.drain", "a", 2), ("prv.test.check", "a", 3)]
    assert driver.calls == [("execute", "Upgrade", f"{done['id']}:{vnfc}:update")
                            for vnfc in "cba"]
    lcm = done["tasks"][0]["result"]
    assert done["tasks"][0]["name"] == "c:coordinate-old"
    assert lcm["coordinationResult"] == "CONTINUE" and lcm["vnfLcmOpOccId"] == done["id"]
    assert lcm["vnfInstanceId"] == "vnf-1" and lcm["coordinationActionName"] == "prv.test.drain"
    received = coordination.requests[0]
    assert received.auth == "basic" and received.headers["version"] == "1.0.0"
    request = received.body
    assert request["lcmOperationType"] == "CHANGE_VNFPKG"
    assert request["inputParams"] == {"vnfcInstanceId": "c", "vduId": "VDU2"}


def test_the_first_abort_stops_the_update_and_rollback_restores_with_the_old_script(
        nfvd: ThreadServer, em: tuple[Em, CoordinationServer]) -> None:
    policy, coordination = em
    policy.driver = driver = fake_driver(nfvd)
    policy.abort.add(("prv.test.check", "b"))
    created = start(nfvd, update(coordination.url))
    failed = wait(nfvd, created["id"])
    assert failed["state"] == "FAILED_TEMP"
    states = {task["name"]: task["state"] for task in failed["tasks"]}
    assert states["b:coordinate-new"] == "FAILED"
    assert {states[f"a:{step}"] for step in ("coordinate-old", "update", "coordinate-new")} == {
        "PENDING"}
    refused = next(t for t in failed["tasks"] if t["name"] == "b:coordinate-new")
    assert refused["result"]["coordinationResult"] == "ABORT"
    assert "coordinate script 'sol002' answered ABORT" in refused["error"]
    assert [call[2].split(":")[1] for call in driver.calls] == ["c", "b"]

    policy.seen.clear()
    rolled = requests.post(f"{nfvd.url}/api/lcm/operations/{created['id']}/rollback",
                           timeout=5)
    assert rolled.status_code == 200, rolled.text
    done = wait(nfvd, created["id"], "ROLLED_BACK", "FAILED_TEMP")
    assert done["state"] == "ROLLED_BACK", done
    # newest first: b is reverted, then told to the EM with the old script; then c
    assert [(call[0], call[2].split(":")[1]) for call in driver.calls[2:]] == [
        ("rollback", "b"), ("rollback", "c")]
    assert policy.seen == [("prv.test.drain", "b", 3), ("prv.test.drain", "c", 4)]


def package(files: Mapping[str, str]) -> str:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(data.getvalue()).decode()


SCRIPT = """\
import json, sys
param = json.load(sys.stdin)
request = param["LcmCoordRequest"]
if param["vnfcInstanceId"] == "b":
    print("refusing b, its password is", param["password"], file=sys.stderr)
    sys.exit(3)
print(json.dumps({"coordinationResult": "CONTINUE", "outputParams": {
    "side": param["side"], "vnfc": request["inputParams"]["vnfcInstanceId"],
    "endpoint": param["endpoint"], "op": request["vnfLcmOpOccId"]}}))
"""


def test_a_script_file_of_the_vnf_package_runs_with_the_vnfc_on_stdin(
        nfvd: ThreadServer, em: tuple[Em, CoordinationServer]) -> None:
    _, coordination = em
    body = update(coordination.url, old="./Scripts/coordinate_vnf.py",
                  driverFiles=package({"Scripts/coordinate_vnf.py": SCRIPT}))
    created = start(nfvd, body)
    failed = wait(nfvd, created["id"])
    assert failed["state"] == "FAILED_TEMP"
    refused = next(t for t in failed["tasks"] if t["name"] == "b:coordinate-old")
    assert refused["state"] == "FAILED"
    error = refused["result"]["error"]
    assert refused["result"]["coordinationResult"] == "ABORT"
    assert "coordinate_vnf.py exited with status 3: refusing b" in error["detail"]
    assert PASSWORD not in str(refused) and "****" in error["detail"]
    finished = {t["name"]: t for t in failed["tasks"]}
    assert finished["c:coordinate-new"]["state"] == "SUCCEEDED"  # the new side is sol002
    assert finished["c:coordinate-old"]["result"]["outputParams"] == {
        "side": "old", "vnfc": "c", "endpoint": coordination.url, "op": created["id"]}


def test_a_script_nobody_provides_fails_its_step_with_a_clear_error(
        nfvd: ThreadServer, em: tuple[Em, CoordinationServer]) -> None:
    _, coordination = em
    created = start(nfvd, update(coordination.url, new="nobody-owns-this"))
    failed = wait(nfvd, created["id"])
    assert failed["state"] == "FAILED_TEMP"
    task = next(t for t in failed["tasks"] if t["name"] == "c:coordinate-new")
    assert "no coordinate script 'nobody-owns-this'" in task["error"]
    assert "installed: sol002" in task["error"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"driver": "nope"}, "driver"),
    ({"additionalParams": {"upgrade_type": "BlueGreen",
                           "lcm-operation-coordinate-old-vnf": "sol002",
                           "lcm-operation-coordinate-new-vnf": "sol002"}}, "upgrade_type"),
    ({"vnfcResourceInfo": [{"id": "a", "vduId": "VDU9"}]}, "vdu_params[0].vdu_id"),
    ({"vnfcResourceInfo": [{"id": "a", "vduId": "VDU1"}, {"id": "a", "vduId": "VDU2"}]},
     "vnfcResourceInfo"),
    ({"additionalParams": {"upgrade_type": "RollingUpdate",
                           "lcm-operation-coordinate-old-vnf": "Scripts/x.py",
                           "lcm-operation-coordinate-new-vnf": "sol002"}},
     "lcm-operation-coordinate-old-vnf"),
    ({"additionalParams": {"upgrade_type": "RollingUpdate",
                           "lcm-operation-coordinate-old-vnf": "../x.py",
                           "lcm-operation-coordinate-new-vnf": "sol002"}},
     "lcm-operation-coordinate-old-vnf"),
])
def test_a_bad_request_is_refused_naming_the_field(nfvd: ThreadServer, changes: dict[str, Any],
                                                    field: str) -> None:
    body = update("http://127.0.0.1:9", **changes)
    answer = requests.post(f"{nfvd.url}/api/lcm/rolling-updates", json=body, timeout=5)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in answer.json()["detail"]
    assert PASSWORD not in answer.text
    assert requests.get(f"{nfvd.url}/api/lcm/operations", timeout=5).json()[
        "operations"] == []


def test_one_oauth2_token_serves_every_vnfc_of_an_update(nfvd: ThreadServer) -> None:
    secret = "client-Secr3t"  # noqa: S105 - a test credential
    TOKENS.clear()
    options = ServerOptions(oauth2_client_id="vnfm", oauth2_client_secret=secret)
    with CoordinationServer(options).start() as coordination:
        auth = {"authType": ["OAUTH2_CLIENT_CREDENTIALS"], "paramsOauth2ClientCredentials": {
            "clientId": "vnfm", "clientPassword": secret, "tokenEndpoint": coordination.token_url}}
        body = update(coordination.url)
        for entry in body["additionalParams"]["vdu_params"]:
            for side in ("old_vnfc_param", "new_vnfc_param"):
                entry[side]["authentication"] = auth
        done = wait(nfvd, start(nfvd, body)["id"])
        assert done["state"] == "COMPLETED", done
        assert len(coordination.requests) == 6
        assert {received.auth for received in coordination.requests} == {"bearer"}
        assert coordination.token_requests == 1
        assert secret not in str(done)


def test_a_script_file_that_overruns_its_timeout_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "slow.sh"
    script.write_text("sleep 30\n")
    context = {"LcmCoordRequest": {"vnfInstanceId": "vnf-1", "vnfLcmOpOccId": "op-1"}}
    with pytest.raises(ScriptFailed, match=r"'slow.sh' did not finish in 0.5s and was killed"):
        run_script(script, {}, 0.5, context)
