"""The task graph of an operation: validation, topological order, rollback order."""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Collection, Sequence

from framework.engine import machine
from framework.engine.model import MAX_NAME, TaskSpec, TaskState, json_problem


@dataclasses.dataclass(frozen=True)
class Graph:
    """Tasks by index (their position in the submission), with both directions of each edge.

    ``order`` is a topological order: every task comes after its dependencies, ties broken
    by index, so the same specs always give the same order.
    """

    names: tuple[str, ...]
    depends_on: tuple[tuple[int, ...], ...]
    dependents: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]

    def levels(self) -> list[list[int]]:
        """Tasks grouped by depth: every task of a level can run in parallel with the others."""
        depth = [0] * len(self.names)
        for index in self.order:
            depth[index] = max((depth[dep] + 1 for dep in self.depends_on[index]), default=0)
        levels: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
        for index in self.order:
            levels[depth[index]].append(index)
        return levels

    def rollback_order(self, included: Collection[int] | None = None) -> list[int]:
        """``included`` tasks (default: all) in the order a rollback compensates them.

        Dependents come before their dependencies: the reverse of :attr:`order`.
        """
        chosen = set(range(len(self.names)) if included is None else included)
        return [index for index in reversed(self.order) if index in chosen]


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    if len(value) > MAX_NAME:
        raise ValueError(f"{what} {value[:40]!r}... is longer than {MAX_NAME} characters")
    return value


def _check_spec(spec: TaskSpec) -> None:
    name = _check_name("a task name", spec.name)
    _check_name(f"the type of task {name!r}", spec.type)
    problem = json_problem(dict(spec.params))
    if problem is not None:
        raise ValueError(f"the params of task {name!r} are {problem}")
    if spec.timeout is not None and not (math.isfinite(spec.timeout) and spec.timeout > 0):
        raise ValueError(f"the timeout of task {name!r} must be a positive number of seconds")
    for dep in spec.depends_on:
        if not isinstance(dep, str):
            raise ValueError(f"task {name!r} depends on {dep!r}, which is not a task name")


def build(specs: Sequence[TaskSpec]) -> Graph:
    """The graph of ``specs``, checked.

    Raises ValueError for a malformed spec, a duplicate task name, a dependency on an
    unknown task or on itself, or a cycle (the message names the tasks on it).
    """
    index: dict[str, int] = {}
    for position, spec in enumerate(specs):
        if not isinstance(spec, TaskSpec):
            raise ValueError(f"task {position} is not a TaskSpec")
        _check_spec(spec)
        if spec.name in index:
            raise ValueError(f"duplicate task name {spec.name!r}")
        index[spec.name] = position
    depends_on: list[tuple[int, ...]] = []
    dependents: list[list[int]] = [[] for _ in specs]
    for position, spec in enumerate(specs):
        deps: list[int] = []
        for dep in dict.fromkeys(spec.depends_on):  # a repeated dependency counts once
            if dep == spec.name:
                raise ValueError(f"task {spec.name!r} depends on itself")
            if dep not in index:
                raise ValueError(f"task {spec.name!r} depends on unknown task {dep!r}")
            deps.append(index[dep])
            dependents[index[dep]].append(position)
        depends_on.append(tuple(deps))
    order = _topological(depends_on, dependents)
    if len(order) < len(specs):
        stuck = sorted(set(range(len(specs))) - set(order))
        names = ", ".join(repr(specs[i].name) for i in stuck[:10])
        raise ValueError(f"the tasks form a cycle (tasks involved: {names})")
    return Graph(tuple(index), tuple(depends_on), tuple(tuple(d) for d in dependents),
                 tuple(order))


def _topological(depends_on: Sequence[tuple[int, ...]], dependents: Sequence[list[int]],
                 ) -> list[int]:
    # Kahn's algorithm, O(tasks + edges); a heap keeps ties in index order.
    left = [len(deps) for deps in depends_on]
    ready = [index for index, count in enumerate(left) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for dependent in dependents[index]:
            left[dependent] -= 1
            if left[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order


def compensation_counts(tasks: Sequence[tuple[TaskState, bool, Sequence[int]]],
                        ) -> dict[int, int]:
    """For each task to compensate, how many of its dependents must be compensated first.

    ``tasks`` are (state, has side effects, dependents) by index; which ones a rollback
    compensates is :func:`framework.engine.machine.needs_compensation`.
    """
    chosen = {index for index, (state, effects, _) in enumerate(tasks)
              if machine.needs_compensation(state, effects)}
    return {index: sum(1 for dep in tasks[index][2] if dep in chosen) for index in chosen}
