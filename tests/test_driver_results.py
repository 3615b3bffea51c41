"""What a resource driver returns is checked before it is reported: shape, JSON, depth, size."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from framework.execution_events import ExecutionNotifier
from framework.lifecycle import MAX_RESULT_BYTES, kept_details, redact, result_problem
from framework.plugins.resource import LifecycleResult
from framework.store.notices import TaskOutcome, Transition


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(("result", "problem"), [
    ({"outputs": {}}, "a dict, not a LifecycleResult"),
    (None, "a NoneType, not a LifecycleResult"),
    (LifecycleResult(outputs=["a"]),  # type: ignore[arg-type]
     "outputs that is a list, not a dict"),
    (LifecycleResult(associated_topology="vm-1"),  # type: ignore[arg-type]
     "associatedTopology that is a str, not a dict"),
    (LifecycleResult(outputs={5: "a"}),  # type: ignore[dict-item]
     "outputs with a name that is not a string: '5'"),
    (LifecycleResult(associated_topology={"vm": {"id": 5, "type": "VM"}}),
     "associatedTopology entry 'vm' that is neither null nor an object with string 'id' "
     "and 'type'"),
    (LifecycleResult(associated_topology={"vm": "vm-1"}),
     "associatedTopology entry 'vm' that is neither null nor an object with string 'id' "
     "and 'type'"),
    (LifecycleResult(outputs={"at": datetime.date(2026, 11, 22)}),
     "outputs or associatedTopology that is not JSON: Object of type date is not JSON "
     "serializable"),
    (LifecycleResult(outputs={"ratio": float("nan")}),
     "outputs or associatedTopology that is not JSON: Out of range float values are not "
     "JSON compliant"),
    (LifecycleResult(outputs={"name": "\udc80"}),
     "outputs or associatedTopology that is not JSON: 'utf-8' codec can't encode character "
     "'\\udc80' in position 20: surrogates not allowed"),
    (LifecycleResult(outputs={"deep": nested(64)}),
     "outputs or associatedTopology nested more than 64 levels"),
    (LifecycleResult(outputs={"blob": "x" * MAX_RESULT_BYTES}),
     "outputs and associatedTopology of 262191 bytes as compact JSON, more than the limit "
     "of 262144 (setting driver_result_max_bytes)"),
])
def test_an_unfit_result_is_named_precisely(result: Any, problem: str) -> None:
    assert result_problem(result) == problem


def test_fit_results_pass_up_to_the_limit() -> None:
    assert result_problem(LifecycleResult()) is None
    assert result_problem(LifecycleResult(
        outputs={"address": "10.0.0.7", "ports": [1, 2], "deep": nested(62), "none": None},
        associated_topology={"vm": {"id": "i-1", "type": "VM", "zone": "a"}, "gone": None},
        details={"not": "sent"})) is None
    envelope = len('{"outputs":{"blob":""},"associatedTopology":{}}')
    exact = LifecycleResult(outputs={"blob": "x" * (1000 - envelope)})
    assert result_problem(exact, max_bytes=1000) is None
    assert result_problem(exact, max_bytes=999) is not None
    # the limit counts UTF-8 bytes, not characters
    assert result_problem(LifecycleResult(outputs={"blob": "é" * 500}), max_bytes=1000) \
        is not None


class Context:
    """The part of framework.store.notices.NoticeContext a notifier uses, over given tasks
    (the notifier runs inside the repository's transaction, which this test does not need)."""

    def __init__(self, tasks: list[TaskOutcome]) -> None:
        self._tasks = tasks
        self.published: list[dict[str, Any]] = []

    def request(self) -> dict[str, Any]:
        return {}

    def tasks(self) -> list[TaskOutcome]:
        return self._tasks

    def once(self, name: str) -> bool:
        return True

    def publish(self, topic: str, key: str, payload: dict[str, Any],
                headers: dict[str, str] | None = None) -> None:
        self.published.append(json.loads(json.dumps(payload)))


def completed(notifier: ExecutionNotifier, blobs: list[int]) -> dict[str, Any]:
    context = Context([TaskOutcome(f"step-{n}", "SUCCEEDED",
                                   {"outputs": {f"blob-{n}": "x" * size},
                                    "associatedTopology": {}}, None)
                       for n, size in enumerate(blobs)])
    notifier.operation_moved(Transition("op-1", "resource.execution", "RUNNING", "COMPLETED",
                                        None, 0.0), context)  # type: ignore[arg-type]
    [message] = context.published
    return message


def test_tasks_whose_results_fit_alone_but_not_together_are_reported_failed() -> None:
    notifier = ExecutionNotifier(max_result_bytes=1000)
    fits = completed(notifier, [400, 400])
    assert fits["status"] == "COMPLETE" and set(fits["outputs"]) == {"blob-0", "blob-1"}
    over = completed(notifier, [600, 600])
    assert over["status"] == "FAILED" and over["outputs"] == {}
    size = len(json.dumps({"outputs": {"blob-0": "x" * 600, "blob-1": "x" * 600},
                           "associatedTopology": {}}, separators=(",", ":")))
    assert size == 1261
    assert over["failureDetails"] == {"failureCode": "INTERNAL_ERROR", "description": (
        "the execution completed, but its tasks' outputs and associatedTopology take 1261 "
        "bytes together, more than the limit of 1000 (setting driver_result_max_bytes); "
        "nfvd operation op-1 holds them")}


def test_what_is_not_an_object_in_a_task_result_is_left_out_of_the_message() -> None:
    context = Context([
        TaskOutcome("odd", "SUCCEEDED", {"outputs": ["a"], "associatedTopology": "vm"}, None),
        TaskOutcome("fine", "SUCCEEDED", {"outputs": {"ip": "10.0.0.7"}}, None)])
    ExecutionNotifier().operation_moved(Transition(
        "op-2", "resource.execution", "RUNNING", "COMPLETED", None, 0.0),
        context)  # type: ignore[arg-type]
    [message] = context.published
    assert (message["status"], message["outputs"], message["associatedTopology"]) == \
        ("COMPLETE", {"ip": "10.0.0.7"}, {})


def test_details_operators_could_not_be_shown_are_left_out_with_a_note() -> None:
    """Details are shown to operators whole, redacted level by level: details nested deeper
    than that walk can go would make every GET of the operation fail."""
    deep = {"trace": nested(900)}
    with pytest.raises(RecursionError):
        redact(deep)
    kept = kept_details("fake", deep)
    assert kept == {"omitted": "the driver's details were nested more than 64 levels"}
    assert redact(kept) == kept
    assert kept_details("fake", {"log": "x" * 2000}, max_bytes=1000) == {
        "omitted": "the driver's details were 2010 bytes, more than the limit of 1000"}
    assert kept_details("fake", ["a"]) == {
        "omitted": "the driver's details were a list, not a dict"}
    assert kept_details("fake", {"at": datetime.date(2026, 11, 22)}) == {
        "omitted": "the driver's details were not JSON: Object of type date is not JSON "
                   "serializable"}
    fine = {"exitCode": 0, "stdout": "ok", "trace": nested(62)}
    assert kept_details("fake", fine) is fine
    assert kept_details("fake", {}) == {}
