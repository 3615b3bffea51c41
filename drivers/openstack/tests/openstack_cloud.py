"""Helpers for the tests against the real Keystone and Heat of tests/openstack/setup.sh."""

from __future__ import annotations

import os
import shlex
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from framework.workloads import CloudRegion, WorkloadGone

from nfvd_driver_openstack import HeatWorkload, KeystoneClient

TEMPLATES = Path(__file__).parent / "templates"
TIMEOUT = 30
SETUP_HINT = ("run the project's tests/openstack/setup.sh (as root) to bring up Keystone and "
              "Heat, or set NFVD_TEST_OPENSTACK_STATE to the state dir of a running one")


def state_dir() -> Path:
    return Path(os.environ.get("NFVD_TEST_OPENSTACK_STATE", "/tmp/nfvd-openstack"))


def read_openrc(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


class CountingSession(requests.Session):
    """A requests session that counts Keystone authentications."""

    def __init__(self) -> None:
        super().__init__()
        self.auths = 0

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        if method == "POST" and str(url).endswith("/auth/tokens"):
            self.auths += 1
        return super().request(method, url, *args, **kwargs)


class Admin:
    """The cloud as its admin sees it over REST: projects, roles, tokens, stacks."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.keystone = env["OS_AUTH_URL"].rstrip("/")
        self.region = CloudRegion(
            owner="test", region=env.get("OS_REGION_NAME", "RegionOne"),
            auth_url=self.keystone, username=env["OS_USERNAME"], password=env["OS_PASSWORD"],
            user_domain=env.get("OS_USER_DOMAIN_NAME", "Default"),
            project_domain=env.get("OS_PROJECT_DOMAIN_NAME", "Default"),
            default_project=env["OS_PROJECT_NAME"], interface=env.get("OS_INTERFACE", "public"))
        self.http = requests.Session()
        self.workload = HeatWorkload(KeystoneClient(self.http))
        session = self.workload.keystone.session(self.region, None)
        self.project_id = session.project_id
        self.http.headers["X-Auth-Token"] = session.token().value
        answer = self.http.get(f"{self.keystone}/auth/tokens", timeout=TIMEOUT,
                               headers={"X-Subject-Token": session.token().value})
        answer.raise_for_status()
        self.user_id: str = answer.json()["token"]["user"]["id"]
        self.stacks: list[tuple[str | None, str]] = []

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        answer = self.http.request(method, self.keystone + path, json=body, headers=headers,
                                   timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def revoke(self, token: str) -> None:
        """Revokes a token (``DELETE /v3/auth/tokens``): services refuse it from now on."""
        self.call("DELETE", "/auth/tokens", **{"X-Subject-Token": token})

    def track(self, project: str | None, stack_id: str) -> str:
        """Remembers a stack to delete when the test session ends."""
        self.stacks.append((project, stack_id))
        return stack_id

    def delete_stacks(self, wait: float = 30.0) -> None:
        """Deletes the tracked stacks and waits until they are gone."""
        for project, stack_id in self.stacks:
            self.workload.delete(self.region, project, stack_id)
        deadline = time.monotonic() + wait
        for project, stack_id in self.stacks:
            while time.monotonic() < deadline:
                try:
                    self.workload.show(self.region, project, stack_id)
                except WorkloadGone:
                    break
                time.sleep(0.3)
        self.stacks.clear()


def provider_files() -> dict[str, str]:
    """The stand-ins for servers and ports, as a stack's ``files``."""
    return {name: (TEMPLATES / name).read_text()
            for name in ("server.yaml", "port.yaml", "wrapper.yaml")}


PROVIDER_REGISTRY = {"OS::Nova::Server": "server.yaml", "OS::Neutron::Port": "port.yaml"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
