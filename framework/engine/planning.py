"""Plans: what an operation would do, in which order, with its preconditions as of now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framework.engine import dag, machine
from framework.engine.model import OperationView, TaskSpec, TaskState, TaskView
from framework.engine.runner import verdict_of
from framework.engine.task import TaskCatalog, TaskContext


def _precondition(catalog: TaskCatalog, ctx: TaskContext, type_name: str) -> dict[str, Any]:
    task_type = catalog.get(type_name)
    if task_type is None:
        return {"ok": False, "reason": f"unknown task type {type_name!r}"}
    try:
        with ctx.frozen("in a precondition"):
            verdict = verdict_of(task_type.precondition(ctx), "precondition")
    except Exception as exc:  # task code may raise anything: report it
        return {"ok": False, "reason": f"precondition raised {type(exc).__name__}: {exc}"}
    return {"ok": verdict.ok, "reason": verdict.reason}


def _describe(graph: dag.Graph, specs: Sequence[TaskSpec], preconditions: Sequence[Any],
              states: Sequence[TaskState] | None, rollback: Sequence[int]) -> dict[str, Any]:
    levels = graph.levels()
    level_of = {index: depth for depth, members in enumerate(levels) for index in members}
    tasks = []
    for index in graph.order:
        spec = specs[index]
        entry: dict[str, Any] = {"name": spec.name, "type": spec.type,
                                 "dependsOn": list(spec.depends_on), "level": level_of[index]}
        if states is not None:
            entry["state"] = states[index].value
        entry["precondition"] = preconditions[index]
        tasks.append(entry)
    return {
        "order": [graph.names[index] for index in graph.order],
        "levels": [[graph.names[index] for index in members] for members in levels],
        "tasks": tasks,
        "rollbackOrder": [graph.names[index] for index in rollback],
    }


def dry_run(catalog: TaskCatalog, specs: Sequence[TaskSpec],
            request: Mapping[str, Any] | None) -> dict[str, Any]:
    """The plan of ``specs`` before submitting them; ValueError if the graph is invalid.

    Every precondition is evaluated now, without any result of a dependency (none exists
    yet); a task whose precondition records a side effect gets a false verdict.
    """
    graph = dag.build(specs)
    preconditions = [
        _precondition(catalog, TaskContext(operation_id="dry-run", task=spec.name,
                                           params=spec.params, attempt=1), spec.type)
        for spec in specs]
    plan = _describe(graph, specs, preconditions, None, graph.rollback_order())
    return {"operationId": None, "state": None, "request": request, **plan}


def plan(catalog: TaskCatalog, view: OperationView) -> dict[str, Any]:
    """The plan of a persisted operation as it stands.

    Preconditions are evaluated for PENDING tasks only (the others have run or will not);
    ``rollbackOrder`` lists the tasks a rollback would compensate now.
    """
    specs = [TaskSpec(task.name, task.type, task.params, task.depends_on) for task in view.tasks]
    graph = dag.build(specs)
    by_name = {task.name: task for task in view.tasks}
    preconditions = [_pending_precondition(catalog, view, task, by_name) for task in view.tasks]
    compensate = [index for index, task in enumerate(view.tasks)
                  if machine.needs_compensation(task.state, bool(task.side_effects))]
    plan = _describe(graph, specs, preconditions, [task.state for task in view.tasks],
                     graph.rollback_order(compensate))
    return {"operationId": view.id, "state": view.state.value, "request": view.request, **plan}


def _pending_precondition(catalog: TaskCatalog, view: OperationView, task: TaskView,
                          by_name: Mapping[str, TaskView]) -> dict[str, Any] | None:
    if task.state is not TaskState.PENDING:
        return None
    results = {name: by_name[name].result for name in task.depends_on}
    ctx = TaskContext(operation_id=view.id, task=task.name, params=task.params,
                      attempt=task.attempt, side_effects=task.side_effects,
                      load_results=lambda: results)
    return _precondition(catalog, ctx, task.type)
