"""MultiCloud infra_workload: how long a workload takes to be accepted, created and deleted.

    python benchmarks/infra_workload.py [--rounds 10]

Needs the Keystone and Heat of ``tests/openstack/setup.sh`` (credentials from its ``openrc``,
in ``$NFVD_TEST_OPENSTACK_STATE``, default /tmp/nfvd-openstack). Starts ``nfvd serve`` (one
worker, SQLite and the embedded broker in a temporary directory) with a cloud regions file
for that cloud, then, ``--rounds`` times, one after the other: creates a one-resource stack
through the API with a user directive, polls it until CREATE_COMPLETE, deletes it and polls
until 404. Reports median, min and max of POST→201 (Heat accepted the stack), POST→complete
and DELETE→404, and, for comparison, Heat's own ``POST /stacks`` with the same template.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

TEMPLATE = {"heat_template_version": "2018-08-31",
            "parameters": {"x": {"type": "string", "default": "a"}},
            "resources": {"r": {"type": "OS::Heat::RandomString"}},
            "outputs": {"o": {"value": {"get_param": "x"}}}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def openrc() -> dict[str, str]:
    default = "/tmp/nfvd-openstack"  # noqa: S108 - tests/openstack/setup.sh's state dir
    state = Path(os.environ.get("NFVD_TEST_OPENSTACK_STATE", default))
    found: dict[str, str] = {}
    for line in (state / "openrc").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export":
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


def _until(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the workload did not get there in time")
        time.sleep(0.05)


def heat_alone(cloud: dict[str, str], rounds: int) -> list[float]:
    """Seconds of Heat's own POST /stacks (token taken once, stacks deleted after)."""
    http = requests.Session()
    answer = http.post(f"{cloud['OS_AUTH_URL']}/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": cloud["OS_USERNAME"], "password": cloud["OS_PASSWORD"],
            "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": cloud["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}})
    answer.raise_for_status()
    http.headers["X-Auth-Token"] = answer.headers["X-Subject-Token"]
    heat = next(point["url"] for service in answer.json()["token"]["catalog"]
                if service["type"] == "orchestration" for point in service["endpoints"]
                if point["interface"] == "public")
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        made = http.post(f"{heat}/stacks", timeout=60, json={
            "stack_name": f"bench-raw-{uuid.uuid4().hex[:8]}", "template": TEMPLATE})
        times.append(time.perf_counter() - started)
        made.raise_for_status()
        http.delete(f"{heat}/stacks/{made.json()['stack']['id']}", timeout=60)
    return times


def through_nfvd(cloud: dict[str, str], rounds: int, workdir: Path) -> dict[str, list[float]]:
    regions = workdir / "regions.yaml"
    regions.write_text(yaml.safe_dump([{
        "cloudOwner": "CloudOwner", "cloudRegionId": "RegionOne",
        "authUrl": cloud["OS_AUTH_URL"], "username": cloud["OS_USERNAME"],
        "password": cloud["OS_PASSWORD"], "defaultProject": cloud["OS_PROJECT_NAME"]}]))
    regions.chmod(0o600)
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NFVD_")},
           "NFVD_CLOUD_REGIONS_FILE": str(regions), "NFVD_PORT": str(port),
           "NFVD_KAFKA_EMBEDDED_PORT": str(_free_port()),
           "NFVD_DATABASE_URL": f"sqlite:///{workdir / 'nfvd.db'}",
           "NFVD_WORKLOAD_POLL_SECONDS": "0.1", "NFVD_LOG_LEVEL": "WARNING"}
    with (workdir / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "framework", "serve"], env=env,
                                  cwd=workdir, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}/api/multicloud/v1/CloudOwner/RegionOne/infra_workload"
    found: dict[str, list[float]] = {"accepted": [], "complete": [], "deleted": []}
    try:
        _until(lambda: _ready(f"http://127.0.0.1:{port}/ready"), 60)
        for _ in range(rounds):
            started = time.perf_counter()
            answer = requests.post(base, timeout=60, json={
                "template_type": "heat", "vf-module-id": f"bench-{uuid.uuid4().hex[:8]}",
                "template_data": {"template": TEMPLATE}, "user_directives": {"attributes": [
                    {"attribute_name": "x", "attribute_value": "b"}]}})
            accepted = time.perf_counter()
            answer.raise_for_status()
            workload = f"{base}/{answer.json()['workload_id']}"
            _until(_created(workload))
            complete = time.perf_counter()
            requests.delete(workload, timeout=60).raise_for_status()
            _until(_gone(workload))
            found["accepted"].append(accepted - started)
            found["complete"].append(complete - started)
            found["deleted"].append(time.perf_counter() - complete)
    finally:
        server.terminate()
        server.wait(30)
    return found


def _created(url: str) -> Callable[[], bool]:
    return lambda: _status(url) not in ("CREATE_IN_PROGRESS", None)


def _gone(url: str) -> Callable[[], bool]:
    return lambda: requests.get(url, timeout=30).status_code == 404


def _ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _status(url: str) -> Any:
    return requests.get(url, timeout=30).json().get("workload_status")


def _line(name: str, values: list[float]) -> str:
    ms = [value * 1000 for value in values]
    return (f"{name:<28} median {statistics.median(ms):6.0f} ms   min {min(ms):6.0f}   "
            f"max {max(ms):6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    cloud = openrc()
    with tempfile.TemporaryDirectory(prefix="nfvd-bench-workload-") as workdir:
        found = through_nfvd(cloud, args.rounds, Path(workdir))
    print(_line("POST -> 201 (accepted)", found["accepted"]))
    print(_line("POST -> CREATE_COMPLETE", found["complete"]))
    print(_line("DELETE -> 404", found["deleted"]))
    print(_line("Heat's own POST /stacks", heat_alone(cloud, args.rounds)))


if __name__ == "__main__":
    main()
