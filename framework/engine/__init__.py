"""The lifecycle engine: operations as persisted task graphs, run by workers, under control."""

from framework.engine.engine import Engine
from framework.engine.machine import InvalidTransition, allowed_controls
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
from framework.engine.ports import Clock, Repository, SystemClock
from framework.engine.task import ActionFailed, LeaseLost, TaskCatalog, TaskContext, TaskType

__all__ = [
    "ActionFailed",
    "SOL_STATE",
    "Clock",
    "Direction",
    "Engine",
    "InvalidTransition",
    "LeaseLost",
    "OperationState",
    "OperationView",
    "Repository",
    "SystemClock",
    "TaskCatalog",
    "TaskContext",
    "TaskSpec",
    "TaskState",
    "TaskType",
    "TaskView",
    "Verdict",
    "allowed_controls",
]
