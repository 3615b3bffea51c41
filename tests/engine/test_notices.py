"""Notices: a notifier's messages carry its operation's request, and a notice comes once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine.helpers import FAST
from engine.ledger import Ledger, ledger_catalog
from framework.engine import Engine, TaskSpec
from framework.store import Store, open_store
from framework.store.lcm import SqlRepository
from framework.store.notices import KeptRequests, NoticeContext, Transition
from framework.store.tables import outbox

KIND = "noted"
TOPIC = "noted_events"
DONE = {"COMPLETED", "FAILED_TEMP"}


class Noting:
    """At each transition, a message with the request's tenant; when the operation first
    ends (``once``), a message saying how."""

    def operation_moved(self, transition: Transition, context: NoticeContext) -> None:
        context.publish(TOPIC, transition.operation_id,
                        {"to": transition.new, "tenant": context.request().get("tenant")})
        if transition.new in DONE and context.once("end"):
            context.publish(TOPIC, transition.operation_id, {"end": transition.new})


def noted(store: Store, operation_id: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.payload).where(
            outbox.c.key == operation_id, outbox.c.topic == TOPIC).order_by(outbox.c.id)).all()
    return [json.loads(row.payload) for row in rows]


@pytest.fixture
def engines(store: Store, ledger: Ledger) -> Iterator[list[Engine]]:
    """[creator, other]: engines with the notifier; ``other`` on a Store of its own, as
    another nfvd process, so it has kept no request of what ``creator`` created."""
    own = open_store(store.engine.url.render_as_string(hide_password=False))
    made = [Engine(SqlRepository(on, notifiers={KIND: Noting()}), ledger_catalog(ledger),
                   **FAST) for on in (store, own)]
    yield made
    for engine in made:
        engine.stop(timeout=5)
    own.close()


def test_request_is_the_same_kept_or_read_from_the_row(engines: list[Engine],
                                                       store: Store) -> None:
    creator, other = engines
    # created by the creator, which does not run it: the other process finishes it and
    # reads the request from the operation's row
    far, _ = creator.submit(KIND, [TaskSpec("a", "ledger")], request={"tenant": "t-far"})
    other.start()
    assert other.wait(far.id, DONE, timeout=20).state == "COMPLETED"
    other.stop(timeout=5)
    # created and finished by the same process, which kept the request
    creator.start()
    near, _ = creator.submit(KIND, [TaskSpec("a", "ledger")], request={"tenant": "t-near"})
    bare, _ = creator.submit(KIND, [TaskSpec("a", "ledger")])
    for op in (near, bare):
        assert creator.wait(op.id, DONE, timeout=20).state == "COMPLETED"
    for op, tenant in ((far, "t-far"), (near, "t-near"), (bare, None)):
        messages = noted(store, op.id)
        assert [m["tenant"] for m in messages if "to" in m] == [tenant, tenant]
        assert [m["to"] for m in messages if "to" in m] == ["PROCESSING", "COMPLETED"]


def test_a_notice_comes_once_even_when_its_transition_comes_again(
        engines: list[Engine], store: Store) -> None:
    creator, _ = engines
    creator.start()
    op, _ = creator.submit(KIND, [TaskSpec("a", "ledger", {"fail_action": 1})],
                           request={"tenant": "t-1"})
    assert creator.wait(op.id, DONE, timeout=20).state == "FAILED_TEMP"
    creator.retry(op.id)
    assert creator.wait(op.id, {"COMPLETED"}, timeout=20).state == "COMPLETED"
    creator.stop(timeout=5)
    messages = noted(store, op.id)
    assert [m["to"] for m in messages if "to" in m] == ["PROCESSING", "FAILED_TEMP",
                                                        "PROCESSING", "COMPLETED"]
    assert [m["end"] for m in messages if "end" in m] == ["FAILED_TEMP"]


def test_kept_requests_keep_the_latest() -> None:
    kept = KeptRequests(size=4)
    for n in range(5):
        kept.keep(f"op-{n}", {"n": n})
    kept.keep("op-none", None)
    request = {"tenant": "t-1"}
    kept.keep("op-kept", request)
    request["tenant"] = "changed after"  # what is kept is the request as it was created
    assert [kept.get(f"op-{n}") for n in range(5)] == [None, None, None, {"n": 3}, {"n": 4}]
    assert kept.get("op-none") == {}
    assert kept.get("op-kept") == {"tenant": "t-1"}
