"""``nfvd outbox``: what waits for Kafka, and the rows Kafka refused for good.

The relay sets aside a row Kafka will never take as it is (see
:mod:`framework.messaging.refused`) and raises the alarm ``kafka-message-refused``. Once the
limit or the validation that refused it has changed, ``nfvd outbox resend`` puts it back at
the end of the outbox, and the running servers' relay publishes it; ``nfvd outbox drop``
lets it go.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from framework.errors import StartupError

if TYPE_CHECKING:
    from framework.store import Store

T = TypeVar("T")


@contextlib.contextmanager
def _store(ctx: click.Context) -> Iterator[Store]:
    from framework.cli import _fail, _settings
    from framework.store import open_store

    logging.basicConfig(level=logging.CRITICAL)
    try:
        store = open_store(_settings(ctx).database_url)
    except StartupError as exc:
        _fail(str(exc))
    try:
        yield store
    finally:
        store.close()


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group()
def outbox() -> None:
    """Events waiting for Kafka, and those Kafka refused for good (set aside)."""


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def outbox_status(ctx: click.Context, as_json: bool) -> None:
    """How many events wait for Kafka, since when, and how many are set aside."""
    from framework.messaging.refused import status

    with _store(ctx) as store:
        found = status(store)
    if as_json:
        _print(found)
        return
    since = (f", the oldest since {found['oldestWaiting']} "
             f"({found['oldestWaitingSeconds']:.0f} s)") if found["waiting"] else ""
    click.echo(f"waiting: {found['waiting']}{since}")
    click.echo(f"set aside (refused by Kafka): {found['refused']}")


@outbox.command("refused")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def outbox_refused(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The events set aside, oldest first: topic, key, size and why Kafka refused them."""
    from framework.messaging.refused import refused_rows

    with _store(ctx) as store:
        found = refused_rows(store, limit)
    if as_json:
        _print({"refused": found})
        return
    for row in found:
        click.echo(f"{row['id']}  {row['topic']}  {row['key'] or '-'}  {row['bytes']} bytes  "
                   f"{row['refusedAt']}  {row['reason']}")


@outbox.command("show")
@click.argument("row_id", type=int)
@click.pass_context
def outbox_show(ctx: click.Context, row_id: int) -> None:
    """One event set aside, with its headers and payload, as JSON."""
    from framework.cli import _fail
    from framework.messaging.refused import refused_row

    with _store(ctx) as store:
        found = refused_row(store, row_id)
    if found is None:
        _fail(f"no event set aside with id {row_id} (see 'nfvd outbox refused')")
    _print(found)


def _apply(ctx: click.Context, ids: tuple[int, ...], every: bool,
           action: Callable[[Store, tuple[int, ...] | None], T], undone: str) -> T:
    """``action`` on the events set aside with ``ids``, or on every one (``every``).
    Exits with an error naming the ids that are not set aside."""
    from framework.cli import _fail

    if every == bool(ids):
        _fail("give the ids of events set aside, or --all", 2)
    with _store(ctx) as store:
        try:
            done = action(store, None if every else ids)
        except KeyError as exc:
            _fail(f"not set aside: {', '.join(map(str, exc.args[0]))}; nothing was {undone}")
    if not done:
        click.echo("no event is set aside")
    return done


@outbox.command("resend")
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every event set aside.")
@click.pass_context
def outbox_resend(ctx: click.Context, ids: tuple[int, ...], every: bool) -> None:
    """Puts events set aside back at the end of the outbox, to be published again (after
    the limit or validation that refused them changed). They arrive after the events
    written since. All or none."""
    from framework.messaging.refused import resend

    moved = _apply(ctx, ids, every, resend, "resent")
    for old, new in moved.items():
        click.echo(f"{old}  resent as outbox row {new}")


@outbox.command("drop")
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every event set aside.")
@click.pass_context
def outbox_drop(ctx: click.Context, ids: tuple[int, ...], every: bool) -> None:
    """Deletes events set aside, for good. All or none."""
    from framework.messaging.refused import drop

    for row_id in _apply(ctx, ids, every, drop, "deleted"):
        click.echo(f"{row_id}  deleted")
