"""Heat's orchestration API (v1) over REST, in one project of a cloud region.

Heat scopes a user's calls to the token's project, except for a user with the ``admin``
role: Heat lists every project's stacks to such a user and shows any stack by id. The client
keeps to the token's project itself: a stack listed with another ``project`` is left out,
and a stack whose canonical path names another project is gone.

Heat answers a stack's id alone (``/stacks/{id}``) with a redirect to its canonical path
``/stacks/{name}/{id}``; the client follows it itself, on the catalog's URL, since the
``Location`` Heat builds may name a host the client cannot reach. Status codes become the
workload errors: 400 is :class:`~framework.workloads.WorkloadRejected` with Heat's reason,
404 is :class:`~framework.workloads.WorkloadGone`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from framework.workloads import WorkloadError, WorkloadGone

from nfvd_driver_openstack.keystone import KeystoneSession, refusal

__all__ = ["HeatClient", "stack_path"]

#: the status of a stack that is gone, although Heat may still list it for a moment
DELETED = "DELETE_COMPLETE"


def stack_path(stack: Mapping[str, Any]) -> str:
    """The canonical ``{name}/{id}`` of a stack as Heat shows or lists it, URL-quoted."""
    return f"{quote(str(stack['stack_name']), safe='')}/{quote(str(stack['id']), safe='')}"


class HeatClient:
    """Stacks of the project a :class:`KeystoneSession` is scoped to."""

    def __init__(self, session: KeystoneSession) -> None:
        self.session = session
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        """The orchestration URL of the project's catalog (it ends with the project id)."""
        if self._endpoint is None:
            self._endpoint = self.session.endpoint("orchestration")
        return self._endpoint

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /stacks`` with a stack-create body; the new stack's ``id`` and ``links``.

        When Heat answers 409 because the name is taken (names are unique per project), the
        project's stack of that name that is not deleted is returned instead (as listed: with
        ``stack_status``). Raises :class:`WorkloadRejected` with Heat's reason when it
        refuses the template.
        """
        name = str(body.get("stack_name", ""))
        step = f"creating stack {name}"
        response = self._request("POST", "/stacks", step, json_body=dict(body))
        if response.status_code == 409:
            for stack in self.find(name):
                if stack.get("stack_status") != DELETED:
                    return stack
        if response.status_code not in (200, 201, 202):
            raise refusal(step, response)
        created = _json(step, response).get("stack")
        if not isinstance(created, dict) or not created.get("id"):
            raise WorkloadError(f"{step}: the answer holds no stack id")
        return created

    def get(self, stack_id: str) -> dict[str, Any]:
        """The stack with its outputs (``GET /stacks/{id}``, then its canonical path).

        :class:`WorkloadGone` when there is no such stack in the project; a stack deleted a
        moment ago may still come back, as ``DELETE_COMPLETE``.
        """
        step = f"reading stack {stack_id}"
        response = self._request("GET", f"/stacks/{quote(stack_id, safe='')}", step)
        if response.status_code in (301, 302, 303, 307, 308):
            project, path = self._redirected(step, response)
            if project != self.session.project_id:
                raise WorkloadGone(f"{step}: no such stack in project {self.session.project}",
                                   status=404)
            response = self._request("GET", path, step)
        if response.status_code != 200:
            raise refusal(step, response)
        stack = _json(step, response).get("stack")
        if not isinstance(stack, dict):
            raise WorkloadError(f"{step}: the answer holds no stack")
        return stack

    def find(self, name: str) -> list[dict[str, Any]]:
        """The project's stacks named ``name`` (``GET /stacks?name=``), as Heat lists them."""
        step = f"looking up stacks named {name}"
        response = self._request("GET", "/stacks", step, params={"name": name})
        if response.status_code != 200:
            raise refusal(step, response)
        stacks = _json(step, response).get("stacks")
        if not isinstance(stacks, list):
            raise WorkloadError(f"{step}: the answer holds no list of stacks")
        project = self.session.project_id
        return [stack for stack in stacks
                if isinstance(stack, dict) and stack.get("stack_name") == name
                and stack.get("project", project) == project]

    def delete(self, stack_id: str) -> None:
        """Asks Heat to delete the stack; returns at once. A stack gone already is fine."""
        try:
            stack = self.get(stack_id)
        except WorkloadGone:
            return
        if stack.get("stack_status") == DELETED:
            return
        step = f"deleting stack {stack_id}"
        response = self._request("DELETE", f"/stacks/{stack_path(stack)}", step)
        if response.status_code not in (200, 202, 204, 404):
            raise refusal(step, response)

    def resources(self, stack: Mapping[str, Any], nested_depth: int = 0) -> list[dict[str, Any]]:
        """The stack's resources, and those of its nested stacks down to ``nested_depth``.

        Each one's ``links`` has a ``stack`` link to the (nested) stack that holds it.
        """
        step = f"listing the resources of stack {stack.get('id')}"
        response = self._request("GET", f"/stacks/{stack_path(stack)}/resources", step,
                                 params={"nested_depth": str(nested_depth)})
        if response.status_code != 200:
            raise refusal(step, response)
        found = _json(step, response).get("resources")
        if not isinstance(found, list):
            raise WorkloadError(f"{step}: the answer holds no list of resources")
        return [item for item in found if isinstance(item, dict)]

    def resource(self, path: str, resource_name: str) -> dict[str, Any]:
        """One resource with its ``attributes``; ``path`` is its stack's ``{name}/{id}``."""
        step = f"reading resource {resource_name}"
        response = self._request(
            "GET", f"/stacks/{path}/resources/{quote(resource_name, safe='')}", step)
        if response.status_code != 200:
            raise refusal(step, response)
        found = _json(step, response).get("resource")
        if not isinstance(found, dict):
            raise WorkloadError(f"{step}: the answer holds no resource")
        return found

    def _request(self, method: str, path: str, step: str, *, json_body: Any = None,
                 params: Mapping[str, str] | None = None) -> requests.Response:
        return self.session.request(method, self.endpoint + path, step, json_body=json_body,
                                    params=params)

    def _redirected(self, step: str, response: requests.Response) -> tuple[str, str]:
        """The project and the path under the endpoint a redirect of Heat's points to.

        Heat builds the location from the stack's own identity:
        ``.../v1/{project id}/stacks/{name}/{id}``.
        """
        location = urlsplit(response.headers.get("Location", "")).path
        at = location.rfind("/stacks/")
        if at < 0:
            raise WorkloadError(f"{step}: HTTP {response.status_code} to an unexpected "
                                f"location {location!r}", status=response.status_code)
        return location[:at].rsplit("/", 1)[-1], location[at:]


def _json(step: str, response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise WorkloadError(f"{step}: the answer is not a JSON object",
                            status=response.status_code)
    return body
