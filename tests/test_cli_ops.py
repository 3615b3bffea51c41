"""nfvd ops: inspect and control operations from the shell; the running server follows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from fixtures.servers import ThreadServer

NFVD = str(Path(sys.executable).with_name("nfvd"))


def ops(server: ThreadServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFVD_")}
    env["NFVD_DATABASE_URL"] = server.settings.database_url
    return subprocess.run([NFVD, "ops", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def create(server: ThreadServer, delay: float) -> str:
    body = {"driver": "fake", "lifecycleName": "Install",
            "requestProperties": {"fakeDelay": {"type": "string", "value": str(delay)}}}
    op_id: str = requests.post(server.url + "/api/lcm/operations", json=body,
                               timeout=5).json()["id"]
    return op_id


def state(server: ThreadServer, op_id: str) -> str:
    op: dict[str, Any] = requests.get(f"{server.url}/api/lcm/operations/{op_id}",
                                      timeout=5).json()
    return str(op["state"])


def test_pause_and_resume_from_the_shell(serve: Callable[..., ThreadServer]) -> None:
    server = serve()
    # the task outlasts the start of the nfvd command, which takes over a second on a
    # loaded machine
    op_id = create(server, delay=6.0)
    paused = ops(server, "pause", op_id)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == f"{op_id}  PAUSED"
    assert state(server, op_id) == "PAUSED"
    refused = ops(server, "retry", op_id)
    assert refused.returncode == 1
    assert refused.stderr.startswith("nfvd: error: ")
    assert "PAUSED" in refused.stderr
    assert ops(server, "resume", op_id).returncode == 0
    deadline = time.monotonic() + 30
    while state(server, op_id) != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_list_show_and_plan(serve: Callable[..., ThreadServer]) -> None:
    server = serve()
    op_id = create(server, delay=0)
    listed = json.loads(ops(server, "list", "--json").stdout)
    assert [op["id"] for op in listed["operations"]] == [op_id]
    table = ops(server, "list").stdout
    assert table.startswith(op_id) and "resource.lifecycle" in table
    shown = json.loads(ops(server, "show", op_id).stdout)
    assert shown["id"] == op_id and shown["tasks"][0]["name"] == "Install"
    plan = json.loads(ops(server, "plan", op_id).stdout)
    assert [t["name"] for t in plan["tasks"]] == ["Install"]


def test_unknown_operation(serve: Callable[..., ThreadServer]) -> None:
    server = serve()
    result = ops(server, "show", "no-such-operation")
    assert result.returncode == 1
    assert "no-such-operation" in result.stderr
