"""The engine's pure parts: state machine, task graph, specs, views and event payloads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from framework.engine import dag, events, machine
from framework.engine.machine import InvalidTransition
from framework.engine.model import (
    SOL_STATE,
    Direction,
    OperationState,
    OperationView,
    TaskSpec,
    TaskState,
    TaskView,
    Verdict,
)

Op = OperationState
Task = TaskState
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "specs" / "schemas" /
                     "lcm-event.json").read_text())


def test_every_state_has_a_sol_state_and_transitions() -> None:
    assert set(SOL_STATE) == set(Op)
    assert set(machine.OPERATION_TRANSITIONS) == {None, *Op}
    assert set(machine.TASK_TRANSITIONS) == set(Task)
    assert SOL_STATE[Op.PAUSED] == "PROCESSING" and SOL_STATE[Op.CANCELLED] == "FAILED_TEMP"


def test_terminal_states_have_no_way_out() -> None:
    assert machine.OPERATION_TRANSITIONS[Op.FAILED] == frozenset()
    assert machine.OPERATION_TRANSITIONS[Op.ROLLED_BACK] == frozenset()
    for state in (Task.SKIPPED, Task.ROLLED_BACK):
        assert machine.TASK_TRANSITIONS[state] == frozenset()


def test_invalid_transitions_raise() -> None:
    machine.check_task(Task.PENDING, Task.RUNNING)
    with pytest.raises(InvalidTransition, match="PENDING to SUCCEEDED"):
        machine.check_task(Task.PENDING, Task.SUCCEEDED)
    with pytest.raises(InvalidTransition):
        machine.check_operation(Op.COMPLETED, Op.PROCESSING)
    with pytest.raises(InvalidTransition):
        machine.check_operation(None, Op.COMPLETED)


@pytest.mark.parametrize("state", list(Op))
@pytest.mark.parametrize("control", list(machine.CONTROLS))
def test_control_targets_follow_the_table(control: str, state: Op) -> None:
    spec = machine.CONTROLS[control]
    if state in spec.settled_in:
        assert machine.control_target(control, state, Direction.FORWARD) is None
    elif state in spec.allowed_from:
        target = machine.control_target(control, state, Direction.FORWARD)
        assert target is not None and target in machine.OPERATION_TRANSITIONS[state]
    else:
        with pytest.raises(InvalidTransition, match=f"cannot {control}"):
            machine.control_target(control, state, Direction.FORWARD)


def test_retry_of_a_failed_rollback_goes_back_to_rolling_back() -> None:
    assert machine.control_target("retry", Op.FAILED_TEMP, Direction.ROLLBACK) is \
        Op.ROLLING_BACK
    assert machine.control_target("retry", Op.FAILED_TEMP, Direction.FORWARD) is Op.PROCESSING


def test_allowed_controls() -> None:
    assert machine.allowed_controls(Op.PROCESSING) == ["pause", "cancel", "rollback"]
    assert machine.allowed_controls(Op.FAILED_TEMP) == ["retry", "rollback", "fail"]
    assert machine.allowed_controls(Op.FAILED) == []


def test_compensation_rules() -> None:
    assert machine.needs_compensation(Task.SUCCEEDED, False)
    assert machine.needs_compensation(Task.RUNNING, False)
    assert machine.needs_compensation(Task.FAILED, True)
    assert not machine.needs_compensation(Task.FAILED, False)
    assert not machine.needs_compensation(Task.SKIPPED, True)
    assert not machine.needs_compensation(Task.PENDING, False)


def specs(*edges: tuple[str, tuple[str, ...]]) -> list[TaskSpec]:
    return [TaskSpec(name, "noop", depends_on=deps) for name, deps in edges]


def test_graph_order_levels_and_rollback_order() -> None:
    graph = dag.build(specs(("d", ("b", "c")), ("a", ()), ("c", ("a",)), ("b", ("a",))))
    names = graph.names
    assert [names[i] for i in graph.order] == ["a", "c", "b", "d"]
    assert [[names[i] for i in level] for level in graph.levels()] == [["a"], ["c", "b"], ["d"]]
    assert [names[i] for i in graph.rollback_order()] == ["d", "b", "c", "a"]


@pytest.mark.parametrize(("tasks", "message"), [
    (specs(("a", ()), ("a", ())), "duplicate task name 'a'"),
    (specs(("a", ("x",))), "depends on unknown task 'x'"),
    (specs(("a", ("a",))), "depends on itself"),
    (specs(("a", ("c",)), ("b", ("a",)), ("c", ("b",)), ("d", ())), "cycle"),
    ([TaskSpec("", "noop")], "non-empty"),
    ([TaskSpec("a", "noop", params={"x": object()})], "not JSON"),
    ([TaskSpec("a", "noop", timeout=0)], "timeout"),
    ([TaskSpec("a" * 200, "noop")], "longer than 128"),
])
def test_invalid_graphs_are_refused(tasks: list[TaskSpec], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dag.build(tasks)


def test_a_repeated_dependency_counts_once() -> None:
    graph = dag.build(specs(("a", ()), ("b", ("a", "a"))))
    assert graph.depends_on == ((), (0,)) and graph.dependents == ((1,), ())


def test_task_spec_from_dict() -> None:
    spec = TaskSpec.from_dict({"name": "a", "type": "t", "params": {"x": 1},
                               "dependsOn": ["b"], "timeout": 3, "cancellable": True})
    assert spec == TaskSpec("a", "t", {"x": 1}, ("b",), 3.0, True)
    for bad in ({"type": "t"}, {"name": "a", "type": "t", "dependsOn": "b"},
                {"name": "a", "type": "t", "timeout": "3"},
                {"name": "a", "type": "t", "cancellable": "yes"}):
        with pytest.raises(ValueError):
            TaskSpec.from_dict(bad)


def test_verdict_is_truthy_when_ok() -> None:
    assert Verdict.yes() and not Verdict.no("because")
    assert Verdict.no("because").reason == "because"


def test_views_as_json() -> None:
    task = TaskView("a", "t", Task.SUCCEEDED, 1, ("b",), {"x": 1}, 0.0, 1.5, None,
                    {"r": 1}, ({"k": 1},), False, None)
    view = OperationView("op", "kind", Op.COMPLETED, Direction.FORWARD, {"q": 1}, None,
                         0.0, 1.5, (task,))
    body = view.as_dict()
    assert body == {
        "id": "op", "kind": "kind", "state": "COMPLETED", "solState": "COMPLETED",
        "direction": "forward", "request": {"q": 1}, "result": {"a": {"r": 1}},
        "error": None, "createdAt": "1970-01-01T00:00:00.000Z",
        "updatedAt": "1970-01-01T00:00:01.500Z",
        "tasks": [{"name": "a", "type": "t", "state": "SUCCEEDED", "attempt": 1,
                   "dependsOn": ["b"], "params": {"x": 1},
                   "startedAt": "1970-01-01T00:00:00.000Z",
                   "finishedAt": "1970-01-01T00:00:01.500Z", "error": None,
                   "result": {"r": 1}, "sideEffects": [{"k": 1}], "abandoned": False,
                   "reason": None}],
    }
    assert "tasks" not in view.as_dict(tasks=False)
    json.dumps(body)


def test_event_payloads_follow_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    validator.check_schema(SCHEMA)
    created = events.operation_event("op", 1, 0.0, None, Op.PROCESSING)
    failed = events.task_event("op", 2, 1.0, "a", Task.RUNNING, Task.FAILED,
                               Op.PROCESSING, 1, "x" * 10_000)
    for event in (created, failed):
        validator.validate(event)
    assert len(failed["error"]) == 4096
    wrong = {**failed, "entity": "operation"}  # an operation event names no task
    assert not validator.is_valid(wrong)
