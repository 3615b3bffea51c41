"""Fixtures: the real Keystone and Heat that the project's tests/openstack/setup.sh runs.

The cloud is found from ``$NFVD_TEST_OPENSTACK_STATE`` (default ``/tmp/nfvd-openstack``):
its ``openrc`` holds the admin's credentials. A test that needs the cloud fails, saying how
to bring it up, when the file is missing or Keystone or Heat does not answer: these tests
are never skipped silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from framework.workloads import CloudRegion, WorkloadError
from openstack_cloud import SETUP_HINT, Admin, read_openrc, state_dir


@pytest.fixture(scope="session")
def admin() -> Iterator[Admin]:
    openrc = state_dir() / "openrc"
    if not openrc.is_file():
        pytest.fail(f"no OpenStack to test against: {openrc} is missing; {SETUP_HINT}",
                    pytrace=False)
    env = read_openrc(openrc)
    failure = ""
    try:
        requests.get(env["OS_AUTH_URL"], timeout=5)
        cloud = Admin(env)
        heat = cloud.workload.keystone.session(cloud.region, None).endpoint("orchestration")
        requests.get(heat.split("/v1", 1)[0] + "/", timeout=5).raise_for_status()
    except (requests.RequestException, WorkloadError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    if failure:
        pytest.fail(f"no OpenStack with Heat to test against ({failure}); {SETUP_HINT}",
                    pytrace=False)
    yield cloud
    cloud.delete_stacks()


@pytest.fixture(scope="session")
def region(admin: Admin) -> CloudRegion:
    """The admin's cloud region, scoped by default to the admin project."""
    return admin.region


@pytest.fixture(scope="session")
def project_b(admin: Admin) -> Iterator[dict[str, str]]:
    """A second project, named with 32 hex digits (so that scoping by its name is first tried
    as an id), in which the admin has the ``admin`` role; deleted at the end."""
    name = uuid.uuid4().hex
    project = admin.call("POST", "/projects", {"project": {
        "name": name, "domain_id": "default", "description": "nfvd driver tests"}})["project"]
    role = admin.call("GET", "/roles?name=admin")["roles"][0]["id"]
    admin.call("PUT", f"/projects/{project['id']}/users/{admin.user_id}/roles/{role}")
    yield {"id": project["id"], "name": name}
    admin.delete_stacks()
    admin.call("DELETE", f"/projects/{project['id']}")


