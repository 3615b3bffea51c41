"""The resource driver API: execute a lifecycle, find a reference (Brent's wire contract)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from connexion import request
from connexion.lifecycle import ConnexionResponse
from starlette.concurrency import run_in_threadpool

from framework.app import runtime_of
from framework.errors import ServiceUnavailable
from framework.web.middleware import DRIVER_KEY
from framework.web.problems import json_response

if TYPE_CHECKING:
    from framework.executions import Executions
    from framework.runtime import Runtime

#: Requests whose driverFiles are longer (base64 of a 48 KiB zip) are checked off the loop.
INLINE_PACKAGE_CHARS = 64 * 1024

#: What answers a request once its body is valid: from the runtime, the body, the driver of
#: the URL prefix and the tenant, the body of the success (or a FrameworkError).
Answer = Callable[["Runtime", Mapping[str, Any], "str | None", "str | None"],
                  Awaitable[dict[str, Any]]]


def executions_of(runtime: Runtime) -> Executions:
    if runtime.executions is None:
        raise ServiceUnavailable("the lifecycle engine is not running")
    return runtime.executions


async def execute(runtime: Runtime, body: Mapping[str, Any], driver: str | None,
                  tenant: str | None) -> dict[str, Any]:
    """The 202 body, once the execution is recorded.

    A small package is checked on the event loop, the quickest for the usual request; a
    larger one on a worker thread, so that the loop keeps serving meanwhile.
    """
    executions = executions_of(runtime)
    if len(body.get("driverFiles") or "") > INLINE_PACKAGE_CHARS:
        return await run_in_threadpool(executions.execute, body, driver, tenant)
    return await executions.execute_async(body, driver, tenant)


async def find(runtime: Runtime, body: Mapping[str, Any], driver: str | None,
               _tenant: str | None) -> dict[str, Any]:
    """The 200 body; the driver looks on a worker thread (it may run a script)."""
    return await run_in_threadpool(executions_of(runtime).find, body, driver)


#: The operations of this module by operationId, with the status of their success and what
#: answers them: the handlers below, and the fast path (framework.web.fast) that serves the
#: same operations without connexion's per-request machinery.
OPERATIONS: dict[str, tuple[int, Answer]] = {
    f"{__name__}.execute_lifecycle": (202, execute),
    f"{__name__}.find_reference": (200, find),
}


async def _answer(operation: str, body: dict[str, Any]) -> ConnexionResponse:
    status, answer = OPERATIONS[f"{__name__}.{operation}"]
    tenant = request.headers.get("tenantId") or None
    result = await answer(runtime_of(request.scope), body, request.scope.get(DRIVER_KEY), tenant)
    return json_response(result, status=status, headers={"tenantId": tenant} if tenant else None)


async def execute_lifecycle(body: dict[str, Any]) -> ConnexionResponse:
    """202 once the execution is recorded; its completion follows on Kafka."""
    return await _answer("execute_lifecycle", body)


async def find_reference(body: dict[str, Any]) -> ConnexionResponse:
    """The Resource found, or ``{"result": null}``."""
    return await _answer("find_reference", body)
