"""One attempt of one claimed task: precondition, action, postcondition, or its rollback."""

from __future__ import annotations

from typing import Any

from framework.engine.model import (
    MAX_DEPTH,
    MAX_ERROR,
    TaskState,
    Verdict,
    clip,
    too_deep_to_store,
)
from framework.engine.ports import Claim, Outcome
from framework.engine.task import ActionFailed, LeaseLost, TaskCatalog, TaskContext, TaskType

ADOPTED = "adopted at recovery: postcondition true"


def _describe(step: str, exc: BaseException) -> str:
    text = str(exc).strip()
    return clip(f"{step} raised {type(exc).__name__}" + (f": {text}" if text else ""),
                MAX_ERROR) or ""


def verdict_of(value: object, step: str) -> Verdict:
    # A bare bool is accepted too: `return True` is an easy mistake to forgive.
    if isinstance(value, Verdict):
        return value
    if isinstance(value, bool):
        return Verdict(value)
    raise TypeError(f"{step} returned {type(value).__name__}, not a Verdict")


def _json_result(value: Any) -> Any:
    if value is None:
        return None
    # TypeError/ValueError as they come when it is not JSON; too deep, redaction and
    # encoding for GET /api/lcm/operations would recurse
    if too_deep_to_store(value):
        raise ValueError(f"the result is nested more than {MAX_DEPTH} levels deep")
    return value


def run(claim: Claim, catalog: TaskCatalog, ctx: TaskContext) -> Outcome:
    """Run ``claim`` to its outcome; task code raising never escapes from here.

    Forward: a recovered task whose postcondition holds is adopted SUCCEEDED without
    running the action; otherwise precondition (false: SKIPPED; not asked again at
    recovery, the action may have begun), action, postcondition (false: FAILED). An
    action that ends after the operation was cancelled ends CANCELLED. Rollback:
    ROLLED_BACK, or ROLLBACK_FAILED if it raises.
    """
    task_type = catalog.get(claim.type)
    if claim.state is TaskState.ROLLING_BACK:
        return _rollback(claim, task_type, ctx)
    if task_type is None:
        return Outcome(claim, TaskState.FAILED, error=_unknown(claim))
    step = "postcondition" if claim.recovering else "precondition"
    try:
        if claim.recovering:
            with ctx.frozen("in a postcondition"):
                verdict = verdict_of(task_type.postcondition(ctx), step)
            if verdict:
                return Outcome(claim, TaskState.SUCCEEDED, reason=ADOPTED)
        else:
            with ctx.frozen("in a precondition"):
                verdict = verdict_of(task_type.precondition(ctx), step)
            if not verdict:
                return Outcome(claim, TaskState.SKIPPED, reason=clip(verdict.reason))
        step = "action"
        _declare(task_type, ctx)
        result = _json_result(_action(task_type, ctx))
        if ctx.cancelled:
            return Outcome(claim, TaskState.CANCELLED, reason="cancelled while running")
        step = "postcondition"
        with ctx.frozen("in a postcondition"):
            verdict = verdict_of(task_type.postcondition(ctx), step)
        if not verdict:
            why = verdict.reason or "no reason given"
            return Outcome(claim, TaskState.FAILED, result=result, reason=clip(verdict.reason),
                           error=clip(f"postcondition false: {why}"))
        return Outcome(claim, TaskState.SUCCEEDED, result=result)
    except Exception as exc:  # task code may raise anything
        if ctx.cancelled and not isinstance(exc, LeaseLost):
            return Outcome(claim, TaskState.CANCELLED, error=_describe(step, exc))
        return Outcome(claim, TaskState.FAILED, result=_kept(exc), error=_describe(step, exc))


def _kept(exc: Exception) -> Any:
    """The result an :class:`ActionFailed` keeps, if it can be stored."""
    if not isinstance(exc, ActionFailed):
        return None
    try:
        return _json_result(exc.result)
    except (TypeError, ValueError):
        return None


def _declare(task_type: TaskType, ctx: TaskContext) -> None:
    """Record the type's declared side effect unless its lease already did."""
    effect = task_type.declared_side_effect(ctx)
    if effect is not None and dict(effect) not in ctx.side_effects:
        ctx.record_side_effect(effect)


def _action(task_type: TaskType, ctx: TaskContext) -> Any:
    result = task_type.action(ctx)
    if result is not None and not isinstance(result, dict):
        result = dict(result)
    return result


def _rollback(claim: Claim, task_type: TaskType | None, ctx: TaskContext) -> Outcome:
    if task_type is None:
        return Outcome(claim, TaskState.ROLLBACK_FAILED, error=_unknown(claim))
    try:
        task_type.rollback(ctx)
    except Exception as exc:  # task code may raise anything
        return Outcome(claim, TaskState.ROLLBACK_FAILED, error=_describe("rollback", exc))
    return Outcome(claim, TaskState.ROLLED_BACK)


def _unknown(claim: Claim) -> str:
    return f"unknown task type {claim.type!r} (no plugin provides it in this process)"
