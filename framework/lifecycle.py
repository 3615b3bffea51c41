"""Resource-driver lifecycles as engine operations: a request becomes the driver's plan."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.engine import Engine, OperationView, TaskCatalog, TaskContext, TaskSpec, TaskType
from framework.engine.model import Verdict, nests_deeper
from framework.errors import BadRequest, DriverFailed
from framework.packages import stored_directory
from framework.plugins.registry import PluginRegistry
from framework.plugins.resource import (
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
)
from framework.validation import MAX_DEPTH

if TYPE_CHECKING:
    from framework.workload_tasks import WorkloadContext

log = logging.getLogger(__name__)

LIFECYCLE_KIND = "resource.lifecycle"
#: The task type every driver has: one call of ``execute_lifecycle``.
LIFECYCLE_TYPE = "lifecycle"
#: The attachment holding the request's resource package (the zip of ``driverFiles``).
PACKAGE = "driverFiles"
#: The most bytes a driver's outputs and associated topology take together as compact JSON,
#: unless configured (``driver_result_max_bytes``): its completion message must fit in one
#: Kafka message, and librdkafka takes none over 1,000,000 bytes by default.
MAX_RESULT_BYTES = 256 * 1024


def properties(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Properties as ``{name: {"type", "value", ...}}``: a bare value becomes a string one."""
    return {name: dict(value) if isinstance(value, Mapping)
            else {"type": "string", "value": value} for name, value in (values or {}).items()}


REDACTED = "****"
#: Members whose value is a secret wherever they appear (SOL002 authentication parameters,
#: VNFC credentials, OAuth 2.0 answers).
SECRET_MEMBERS = frozenset({"password", "clientPassword", "clientSecret", "client_secret",
                            "accessToken", "access_token", "privateKey"})


def redact(value: Any) -> Any:
    """``value`` (JSON) as operators may see it: the ``privateKey`` of every ``key``
    property, the ``value`` of every ``password`` property and every member named in
    :data:`SECRET_MEMBERS` replaced by ``****``."""
    if isinstance(value, list):
        return [redact(item) for item in value]
    if not isinstance(value, dict):
        return value
    shown = {name: REDACTED if name in SECRET_MEMBERS and item is not None else redact(item)
             for name, item in value.items()}
    secret = {"key": "privateKey", "password": "value"}.get(str(value.get("type")))
    if secret is not None and shown.get(secret) is not None:
        shown[secret] = REDACTED
    return shown


def deployment_location(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A request's ``deploymentLocation`` as drivers get it: ``properties`` a dict, ``{}``
    when the orchestrator sent none or null (which Ignition accepts too)."""
    location = dict(value or {})
    location["properties"] = location.get("properties") or {}
    return location


def lifecycle_request(body: Mapping[str, Any], request_id: str = "") -> LifecycleRequest:
    """The driver's view of an API request body (the spec has checked its shape)."""
    return LifecycleRequest(
        lifecycle_name=body["lifecycleName"],
        system_properties=properties(body.get("systemProperties")),
        deployment_location=deployment_location(body.get("deploymentLocation")),
        resource_properties=properties(body.get("resourceProperties")),
        request_properties=properties(body.get("requestProperties")),
        associated_topology=dict(body.get("associatedTopology") or {}),
        request_id=request_id,
        tenant_id=body.get("tenantId"),
    )


class LifecycleFailed(RuntimeError):
    """A driver reported a failure: ``CODE: description`` (the code is one of FAILURE_CODES)."""

    def __init__(self, failure_code: str, description: str) -> None:
        super().__init__(f"{failure_code}: {description}")


@contextlib.contextmanager
def driver_directory(ctx: TaskContext, wanted: bool = True,
                     base: Path | None = None) -> Iterator[str | None]:
    """The operation's resource package unpacked into a private directory for one call,
    removed after it; None when the operation has no package or it is not ``wanted``."""
    data = ctx.attachment(PACKAGE) if wanted else None
    if data is None:
        yield None
        return
    with stored_directory(data, base) as directory:
        yield str(directory.path)


class ReturnedHere:
    """Marks the attempts whose action returned in this process: a postcondition that
    cannot ask the infrastructure holds only for those (after a crash, nothing is marked).

    A mark is taken, not just read: it serves one check, and a long-running process must
    not keep one for every task it ever ran.
    """

    def __init__(self) -> None:
        self._keys: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def add(self, ctx: TaskContext) -> None:
        with self._lock:
            self._keys.add((ctx.idempotency_key, ctx.attempt))

    def discard(self, ctx: TaskContext) -> None:
        with self._lock:
            self._keys.discard((ctx.idempotency_key, ctx.attempt))

    def take(self, ctx: TaskContext, what: str = "the call") -> Verdict:
        """True, once, for an attempt marked by :meth:`add`; false with the reason else."""
        with self._lock:
            key = (ctx.idempotency_key, ctx.attempt)
            done = key in self._keys
            self._keys.discard(key)
        return Verdict(done, "" if done else f"{what} did not return in this process")


def driver_bug(name: str, call: str, exc: Exception) -> DriverFailed:
    """The failure to answer for driver ``name`` whose ``call`` raised ``exc`` unexpectedly:
    INTERNAL_ERROR with an incident id, under which the traceback is logged (the message
    may hold what the caller must not see)."""
    incident = uuid.uuid4().hex[:12]
    log.error("driver %r: %s raised (incident %s)", name, call, incident, exc_info=exc)
    return DriverFailed(f"driver {name!r} failed unexpectedly in {call} (incident {incident})",
                        failureCode="INTERNAL_ERROR", incident=incident)


def driver_plan(name: str, driver: ResourceDriver, request: LifecycleRequest,
                ) -> Sequence[TaskSpec]:
    """``driver.plan(request)``, checked: :class:`DriverFailed` if it raises (its failure
    code for a ResourceDriverError) or returns anything but a sequence of TaskSpec."""
    try:
        specs = driver.plan(request)
    except ResourceDriverError as exc:
        raise DriverFailed(f"driver {name!r}: {exc.failure_code}: {exc}",
                           failureCode=exc.failure_code) from exc
    except Exception as exc:
        raise driver_bug(name, "plan", exc) from exc
    if not isinstance(specs, Sequence) or not all(isinstance(spec, TaskSpec) for spec in specs):
        # its type only: a plan's params may hold the request's secrets
        log.error("driver %r: plan returned a %s", name, type(specs).__name__)
        raise DriverFailed(f"driver {name!r} returned a plan that is not a sequence of TaskSpec",
                           failureCode="INTERNAL_ERROR")
    return specs


def compact_bytes(value: object) -> int:
    """The bytes of ``value`` as compact UTF-8 JSON, as a Kafka message carries it; raises
    what :func:`json.dumps` raises, and UnicodeEncodeError for a lone surrogate."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8"))


@dataclasses.dataclass(frozen=True)
class _Unfit:
    """Why a driver's value cannot be kept as it is: its ``size`` when over the limit, the
    encoder's ``error`` when it is not JSON; neither when it is nested too deeply."""

    size: int | None = None
    error: str | None = None


def _unfit_json(value: object, max_bytes: int, depth: int) -> _Unfit | None:
    """None when ``value`` is JSON of at most ``max_bytes`` bytes and ``depth`` levels."""
    try:
        size = compact_bytes(value)
    except RecursionError:
        return _Unfit()
    except (TypeError, ValueError) as exc:  # NaN, a lone surrogate, a cycle
        return _Unfit(error=str(exc)[:120])
    if size > max_bytes:
        return _Unfit(size=size)
    if nests_deeper(value, depth, size):
        return _Unfit()
    return None


def result_problem(result: object, max_bytes: int = MAX_RESULT_BYTES,
                   expected: type[LifecycleResult | FindReferenceResult] = LifecycleResult,
                   ) -> str | None:
    """What makes a driver's ``result`` unfit to report to the orchestrator; None if fit.

    It must be an ``expected`` (a :class:`FindReferenceResult` also has a non-empty string
    ``resource_id``) whose ``outputs`` is a dict of string names and whose
    ``associated_topology`` maps string names to None (removed) or a dict with string ``id``
    and ``type``; both JSON, nested at most :data:`MAX_DEPTH` levels, and at most
    ``max_bytes`` together as compact UTF-8 JSON.
    """
    if not isinstance(result, expected):
        return f"a {type(result).__name__}, not a {expected.__name__}"
    if isinstance(result, FindReferenceResult) and not (
            isinstance(result.resource_id, str) and result.resource_id):
        return f"a resource_id that is not a non-empty string: {str(result.resource_id)[:60]!r}"
    # typed as a driver may have filled them, whatever the dataclass says
    shown: dict[str, object] = {"outputs": result.outputs,
                                "associatedTopology": result.associated_topology}
    for member, value in shown.items():
        if not isinstance(value, dict):
            return f"{member} that is a {type(value).__name__}, not a dict"
        odd = [name for name in value if not isinstance(name, str)]
        if odd:
            return f"{member} with a name that is not a string: {str(odd[0])[:60]!r}"
    for name, entry in result.associated_topology.items():
        if entry is not None and not (isinstance(entry, dict) and isinstance(entry.get("id"), str)
                                      and isinstance(entry.get("type"), str)):
            return (f"associatedTopology entry {name[:60]!r} that is neither null nor an "
                    "object with string 'id' and 'type'")
    # one level more than MAX_DEPTH: ``shown`` wraps the two members
    unfit = _unfit_json(shown, max_bytes, MAX_DEPTH + 1)
    if unfit is None:
        return None
    if unfit.size is not None:
        return (f"outputs and associatedTopology of {unfit.size} bytes as compact JSON, more "
                f"than the limit of {max_bytes} (setting driver_result_max_bytes)")
    if unfit.error is not None:
        return f"outputs or associatedTopology that is not JSON: {unfit.error}"
    return f"outputs or associatedTopology nested more than {MAX_DEPTH} levels"


def kept_details(name: str, details: object, max_bytes: int = MAX_RESULT_BYTES) -> object:
    """A driver's ``details`` as the task keeps them, or a note of why they were left out.

    Operators are shown them whole with the operation, so they must be a JSON object of at
    most ``max_bytes``, nested at most :data:`MAX_DEPTH` levels; they are never sent to the
    orchestrator, so details that are not do not fail the execution.
    """
    if not details:
        return details
    if not isinstance(details, dict):
        problem = f"a {type(details).__name__}, not a dict"
    else:
        unfit = _unfit_json(details, max_bytes, MAX_DEPTH)
        if unfit is None:
            return details
        if unfit.size is not None:
            problem = f"{unfit.size} bytes, more than the limit of {max_bytes}"
        elif unfit.error is not None:
            problem = f"not JSON: {unfit.error}"
        else:
            problem = f"nested more than {MAX_DEPTH} levels"
    log.warning("driver %r: its details were left out: %s", name, problem)
    return {"omitted": f"the driver's details were {problem}"}


class LifecycleTask(TaskType):
    """Runs one transition with ``driver.execute_lifecycle``; the request is in the params.

    Its postcondition holds once the call returned in this process; after a crash
    it does not (nfvd cannot tell whether the call finished), so the call is made again
    with the same request id, which drivers must treat as the same request. A driver
    that can check the infrastructure answers with ``verify_lifecycle``.
    """

    def __init__(self, driver: ResourceDriver, name: str = "",
                 max_result_bytes: int = MAX_RESULT_BYTES) -> None:
        self.driver = driver
        self.name = name or type(driver).__name__
        self.max_result_bytes = max_result_bytes
        self._returned = ReturnedHere()

    def _request(self, ctx: TaskContext) -> LifecycleRequest:
        # the operation id is the request id the orchestrator tracks
        return dataclasses.replace(lifecycle_request(ctx.params["request"], ctx.operation_id),
                                   cancelled=lambda: ctx.cancelled)

    def declared_side_effect(self, ctx: TaskContext) -> Mapping[str, Any]:
        # the driver is asked to run this lifecycle, under this request id
        return {"lifecycle": ctx.params["request"]["lifecycleName"],
                "requestId": ctx.idempotency_key}

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        request = self._request(ctx)
        with driver_directory(ctx, self.driver.uses_driver_files) as path:
            try:
                result = self.driver.execute_lifecycle(
                    dataclasses.replace(request, driver_dir=path))
            except ResourceDriverError as exc:
                raise LifecycleFailed(exc.failure_code, str(exc)) from exc
        # checked before the call counts as returned: a recovery must not adopt it either
        problem = result_problem(result, self.max_result_bytes)
        if problem is not None:
            raise LifecycleFailed("INTERNAL_ERROR", f"driver {self.name!r} returned {problem}")
        self._returned.add(ctx)
        done = {"outputs": result.outputs, "associatedTopology": result.associated_topology}
        details = kept_details(self.name, result.details, self.max_result_bytes)
        return {**done, "details": details} if details else done

    def postcondition(self, ctx: TaskContext) -> Verdict:
        verified = self.driver.verify_lifecycle(self._request(ctx))
        if verified is not None:
            self._returned.discard(ctx)
            return Verdict(bool(verified), "checked by the driver")
        return self._returned.take(ctx)

    def rollback(self, ctx: TaskContext) -> None:
        if ctx.side_effects:
            with driver_directory(ctx, self.driver.uses_driver_files) as path:
                self.driver.rollback_lifecycle(
                    dataclasses.replace(self._request(ctx), driver_dir=path))


def build_catalog(plugins: PluginRegistry,
                  max_result_bytes: int = MAX_RESULT_BYTES) -> TaskCatalog:
    """Every task type of every loaded resource driver, named ``<driver>:<type>``."""
    catalog = TaskCatalog()
    for name, driver in plugins.resource_drivers.items():
        catalog.register(f"{name}:{LIFECYCLE_TYPE}",
                         LifecycleTask(driver, name, max_result_bytes))
        for type_name, task_type in driver.task_types().items():
            catalog.register(f"{name}:{type_name}", task_type)
    return catalog


class Lifecycles:
    """Turns lifecycle requests into operations of the engine."""

    def __init__(self, engine: Engine, plugins: PluginRegistry) -> None:
        self.engine = engine
        self.plugins = plugins
        #: what the infra_workload task types share (set by the runtime that registers them)
        self.workload_context: WorkloadContext | None = None

    def plan(self, body: Mapping[str, Any]) -> list[TaskSpec]:
        """The driver's plan for ``body``, with task types named in the catalog."""
        name = body["driver"]
        driver = self.plugins.resource_driver(name)
        if driver is None:
            raise BadRequest(f"driver: no resource driver named {name!r} is loaded")
        specs = driver_plan(name, driver, lifecycle_request(body))
        if not specs:
            raise BadRequest(f"driver {name!r} planned nothing for {body['lifecycleName']!r}")
        return [dataclasses.replace(spec, type=f"{name}:{spec.type}") for spec in specs]

    def submit(self, body: Mapping[str, Any]) -> tuple[OperationView, bool]:
        """Persists the request as an operation (once per ``idempotencyKey``)."""
        tasks = self.plan(body)
        request = {k: v for k, v in body.items() if k != "idempotencyKey"}
        try:
            return self.engine.submit(LIFECYCLE_KIND, tasks, request=request,
                                      idempotency_key=body.get("idempotencyKey"))
        except ValueError as exc:  # the driver's plan is not a valid DAG
            raise BadRequest(f"driver {body['driver']!r}: {exc}") from exc

    def dry_run(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.engine.dry_run(self.plan(body), request=body)
