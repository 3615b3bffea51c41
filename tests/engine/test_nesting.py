"""The engine stores nothing nested deeper than it can show: whatever a task type, a plan or
a caller gives it, GET /api/lcm/operations/{id} can redact and encode what it holds."""

from __future__ import annotations

from typing import Any

import pytest

from engine.helpers import EngineFactory
from framework.engine import Engine, TaskCatalog, TaskContext, TaskSpec, TaskType
from framework.engine.model import MAX_DEPTH, json_problem
from framework.lifecycle import redact

DONE = {"COMPLETED", "FAILED_TEMP"}
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


def nested(levels: int) -> dict[str, Any]:
    """An object of ``levels`` levels: {"a": {"a": ... {}}}."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


class _Deep(TaskType):
    """Returns, or records as a side effect, an object of ``params["levels"]`` levels."""

    side_effects = True

    def action(self, ctx: TaskContext) -> Any:
        if ctx.params.get("effect"):
            ctx.record_side_effect(nested(ctx.params["levels"]))
            return None
        return nested(ctx.params["levels"])


@pytest.fixture
def deep_engine(make_engine: EngineFactory) -> Engine:
    return make_engine(catalog=TaskCatalog({"deep": _Deep()}))


def test_json_problem_bounds() -> None:
    assert json_problem(nested(MAX_DEPTH)) is None
    assert json_problem(nested(MAX_DEPTH + 1)) == TOO_DEEP
    assert json_problem([[[[]]]] * 40) is None  # long but shallow: walked, and fine
    assert json_problem(nested(5000)) == TOO_DEEP  # past json.dumps' own recursion limit
    assert json_problem({"x": float("nan")}) == "not JSON: Out of range float values are " \
        "not JSON compliant"
    assert json_problem({"x": {1}}) == "not JSON: Object of type set is not JSON serializable"


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 900, 5000])
def test_a_result_nested_too_deeply_fails_its_task_and_the_operation_can_be_shown(
        deep_engine: Engine, levels: int) -> None:
    op, _ = deep_engine.submit("test", [TaskSpec("t", "deep", {"levels": levels})])
    done = deep_engine.wait(op.id, DONE, timeout=20)
    task = done.task("t")
    assert task.state == "FAILED" and task.result is None
    assert task.error == f"action raised ValueError: the result is {TOO_DEEP}"
    assert redact(done.as_dict())["tasks"][0]["error"] == task.error


def test_a_result_at_the_limit_is_kept_and_shown(deep_engine: Engine) -> None:
    op, _ = deep_engine.submit("test", [TaskSpec("t", "deep", {"levels": MAX_DEPTH})])
    done = deep_engine.wait(op.id, DONE, timeout=20)
    assert done.task("t").state == "SUCCEEDED"
    assert redact(done.as_dict())["tasks"][0]["result"] == nested(MAX_DEPTH)


def test_a_side_effect_nested_too_deeply_is_refused_before_it_is_recorded(
        deep_engine: Engine) -> None:
    op, _ = deep_engine.submit("test", [TaskSpec("t", "deep", {"levels": 900, "effect": 1})])
    task = deep_engine.wait(op.id, DONE, timeout=20).task("t")
    assert task.state == "FAILED" and task.side_effects == ()
    assert task.error == f"action raised ValueError: the side effect is {TOO_DEEP}"


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5000])
def test_params_or_a_request_nested_too_deeply_are_refused_at_submit(
        make_engine: EngineFactory, levels: int) -> None:
    engine = make_engine(start=False)
    with pytest.raises(ValueError, match=f"^the params of task 't' are {TOO_DEEP}$"):
        engine.submit("test", [TaskSpec("t", "noop", {"p": nested(levels - 1)})])
    with pytest.raises(ValueError, match=f"^the request is {TOO_DEEP}$"):
        engine.submit("test", [TaskSpec("t", "noop")], request={"r": nested(levels - 1)})
    assert engine.list() == []
