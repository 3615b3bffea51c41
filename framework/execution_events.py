"""The completion messages of resource-driver executions, on lm_vnfc_lifecycle_execution_events
(or the topic of the execution_events_topic setting)."""

from __future__ import annotations

import re
from typing import Any

from framework.lifecycle import MAX_RESULT_BYTES, compact_bytes
from framework.messaging.dedupe import MESSAGE_ID_HEADER
from framework.plugins.resource import FAILURE_CODES
from framework.store.notices import NoticeContext, Transition

#: Where the lifecycle manager listens for the progress of its requests, unless configured.
TOPIC = "lm_vnfc_lifecycle_execution_events"
#: The version of the API's messages, in every answer and completion message.
MESSAGE_VERSION = "1.0.0"

# The runner writes "<step> raised LifecycleFailed: <CODE>: <description>".
_REPORTED = re.compile(r"raised LifecycleFailed: (?P<code>" + "|".join(FAILURE_CODES)
                       + r"): (?P<description>.*)", re.DOTALL)
_TIMED_OUT = re.compile(r"timed out after [0-9.]+s")
#: Operation states that end the orchestrator's request, with what the failure says.
_ENDS = {
    "COMPLETED": None,
    "FAILED_TEMP": None,  # a task failed: its error says why
    "CANCELLED": "cancelled by an operator",
    "FAILED": "failed by an operator",
    "ROLLING_BACK": "rolled back by an operator",
    "ROLLED_BACK": "rolled back by an operator",
}
_DESCRIPTION_MAX = 4000


def failure_details(operation_id: str, error: str | None) -> dict[str, str]:
    """The ``failureDetails`` of an operation that failed with ``error``.

    A driver's own failure keeps its code and description; a timeout is an
    INFRASTRUCTURE_ERROR; anything else is an INTERNAL_ERROR whose description points at
    the operation rather than repeating an internal error message.
    """
    reported = _REPORTED.search(error or "")
    if reported is not None:
        return {"failureCode": reported.group("code"),
                "description": reported.group("description")[:_DESCRIPTION_MAX]}
    timed_out = _TIMED_OUT.search(error or "")
    if timed_out is not None:
        return {"failureCode": "INFRASTRUCTURE_ERROR",
                "description": f"the driver {timed_out.group(0)}"}
    return {"failureCode": "INTERNAL_ERROR",
            "description": f"the driver failed unexpectedly; nfvd operation {operation_id} "
                           "holds the details"}


class ExecutionNotifier:
    """Queues IN_PROGRESS when an execution is recorded, then one COMPLETE or FAILED.

    The terminal message is queued with the first transition that ends the request for the
    orchestrator (completed, failed, cancelled, rolled back), in that transition's
    transaction, and never again for the same request: a later retry or rollback by an
    operator is visible in nfvd, not sent as a second answer. Messages go to ``topic``.

    Each task's result was held to ``max_result_bytes``; a plan of several tasks whose
    outputs and topology take more than that together is reported FAILED (INTERNAL_ERROR,
    saying so) rather than as a COMPLETE message Kafka may never take.
    """

    def __init__(self, topic: str = TOPIC, max_result_bytes: int = MAX_RESULT_BYTES) -> None:
        self.topic = topic
        self.max_result_bytes = max_result_bytes

    def operation_moved(self, transition: Transition, context: NoticeContext) -> None:
        if transition.old is None:
            self._publish(context, transition, {"status": "IN_PROGRESS"}, terminal=False)
            return
        if transition.new not in _ENDS or not context.once("terminal"):
            return
        if transition.new == "COMPLETED":
            outputs: dict[str, Any] = {}
            topology: dict[str, Any] = {}
            for task in context.tasks():
                if task.state == "SUCCEEDED" and isinstance(task.result, dict):
                    # a driver's own task types return what they like: only objects count
                    for merged, part in ((outputs, task.result.get("outputs")),
                                         (topology, task.result.get("associatedTopology"))):
                        if isinstance(part, dict):
                            merged.update(part)
            size = compact_bytes({"outputs": outputs, "associatedTopology": topology})
            if size <= self.max_result_bytes:
                self._publish(context, transition, {"status": "COMPLETE", "outputs": outputs,
                                                    "associatedTopology": topology},
                              terminal=True)
                return
            details = {"failureCode": "INTERNAL_ERROR", "description": (
                f"the execution completed, but its tasks' outputs and associatedTopology take "
                f"{size} bytes together, more than the limit of {self.max_result_bytes} "
                f"(setting driver_result_max_bytes); nfvd operation "
                f"{transition.operation_id} holds them")}
            self._publish(context, transition, {"status": "FAILED", "failureDetails": details},
                          terminal=True)
            return
        operator = _ENDS[transition.new]
        details = ({"failureCode": "INTERNAL_ERROR", "description": operator} if operator
                   else failure_details(transition.operation_id, transition.error))
        self._publish(context, transition, {"status": "FAILED", "failureDetails": details},
                      terminal=True)

    def _publish(self, context: NoticeContext, transition: Transition, fields: dict[str, Any],
                 terminal: bool) -> None:
        request_id = transition.operation_id
        message = {"requestId": request_id, "status": fields["status"],
                   **({"failureDetails": fields["failureDetails"]}
                      if "failureDetails" in fields else {}),
                   "outputs": fields.get("outputs", {}),
                   "associatedTopology": fields.get("associatedTopology", {}),
                   "version": MESSAGE_VERSION}
        headers = {}
        tenant = context.request().get("tenantId")
        if tenant:
            headers["tenantId"] = str(tenant)
        if terminal:
            headers[MESSAGE_ID_HEADER] = f"{request_id}:terminal"
        context.publish(self.topic, request_id, message, headers)
