"""The outbox relay: publishes committed outbox rows to Kafka in order, then deletes them."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Row, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from framework.messaging.dedupe import MESSAGE_ID_HEADER, MessageIdScanner, published_rows
from framework.messaging.leadership import Leadership
from framework.messaging.producer import Delivery, EventProducer, MessageRefused, MessagingError
from framework.messaging.refused import send_alone, set_aside
from framework.store import Store
from framework.store.outbox_rows import Written
from framework.store.prepared import Prepared
from framework.store.tables import outbox

if TYPE_CHECKING:
    from framework.alarms import Alarms

log = logging.getLogger(__name__)

#: Rows published and awaiting confirmation at most; then the relay waits for Kafka.
_MAX_INFLIGHT = 5000
_AFTER = Prepared(select(outbox).where(outbox.c.id > bindparam("b_after"))
                  .order_by(outbox.c.id).limit(bindparam("b_limit")))
#: PostgreSQL: the first rows but those in ``b_sent`` (a hashed anti-join, however many).
_UNSENT = Prepared(select(outbox).where(outbox.c.id.not_in(
    select(func.unnest(bindparam("b_sent", type_=ARRAY(BigInteger))))))
    .order_by(outbox.c.id).limit(bindparam("b_limit")))


class OutboxRelay:
    """Moves outbox rows to Kafka: in id order, each deleted only once Kafka stored it.

    Delivery is at least once and in order per key: after a failure the batch is sent
    again from the first row not yet confirmed, so a consumer may see a message twice
    (events carry a per-operation ``seq`` to drop repeats) but never misses one, even
    when Kafka is away for a long time: rows wait in the outbox until it is back.

    Exactly once for rows whose headers carry ``nfvd-message-id``: whenever it may have
    published without deleting (each time it becomes leader, which includes after any
    failure), the relay first looks for those ids on their topics and deletes the rows
    found there unsent; until that scan succeeded it publishes nothing. ``clock_margin``
    (seconds) covers the clock differences between the hosts that write rows, publish
    and run Kafka: the scan reads messages from that long before the oldest such row.
    ``kafka_properties`` are the producer's extra librdkafka settings, for the scan's
    consumer; ``scan_timeout`` bounds each of its waits for Kafka. A row Kafka refuses for
    good is set aside with an alarm from ``alarms`` (see :mod:`framework.messaging.refused`).
    """

    def __init__(self, store: Store, producer: EventProducer, *, batch: int = 500,
                 poll_interval: float = 0.2, retry_interval: float = 1.0,
                 kafka_properties: Mapping[str, str] | None = None,
                 clock_margin: float = 60.0, scan_timeout: float = 10.0,
                 alarms: Alarms | None = None) -> None:
        self.store = store
        self.alarms = alarms
        self.producer = producer
        self.batch = batch
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.clock_margin = clock_margin
        self.published = 0
        self.skipped = 0  #: rows deleted unsent because their message id was already on Kafka
        self.refused = 0  #: rows set aside because Kafka will never take them
        self._stop = threading.Event()
        self.scanner = MessageIdScanner(producer.bootstrap_servers, kafka_properties,
                                        timeout=scan_timeout, stop=self._stop)
        self._leadership = Leadership(store)
        #: Highest outbox id when the scan of this leadership ran; None: not scanned yet.
        self._checked_through: int | None = None
        #: Rows handed to the producer and not yet confirmed, in id order.
        self._inflight: list[tuple[int, Future[Delivery]]] = []
        #: Rows Kafka confirmed and not yet deleted, in id order (see :meth:`relay_once`).
        self._confirmed: list[int] = []
        #: Held while rows are read and handed to the producer, by a pass or a handoff.
        self._sending = threading.Lock()
        #: Rows handed over by committing threads, not sent yet (see :meth:`handoff`).
        self._handed: collections.deque[tuple[int, Mapping[str, Any]]] = collections.deque()
        #: Rows up to this id were on their way when the broker refused one: sent alone.
        self._alone_through = 0
        #: Whether the next pass reads the outbox (see :meth:`_pass`).
        self._read_needed = True
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nfvd-outbox-relay", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next poll."""
        self._read_needed = True
        self._wake.set()

    def handoff(self, written: Written) -> bool:
        """Publishes rows this process has just committed, when they are the next ones.

        ``written`` are the rows of one SQLite transaction with their ids (see
        :mod:`framework.store.outbox_rows`). They are published on the committing thread,
        or, when another thread is sending, by that thread as soon as it is done, once
        this relay leads and has made its scan, and as long as each row is the one after
        the highest row sent and not yet deleted (the first may be 1 when the relay holds
        none): then no row before it is waiting. A row that does not follow (another
        process wrote one in between, say) wakes the relay, whose next pass reads the
        outbox in order, as it does for every row. False when the relay cannot take rows
        now (not leading, not scanned yet, stopping): wake it instead.
        """
        if not written or self._checked_through is None or self._stop.is_set():
            return False
        self._handed.extend(written)
        self._send_handed()
        return True

    def _send_handed(self) -> None:
        """Sends the rows handed over, unless another thread is sending: then that thread
        sends them once it is done (every thread that sends looks again after it let go).
        Rows that cannot go yet (one before them is missing) wake the relay, which tries
        again, and reads the outbox if the missing row has still not been handed over."""
        while self._handed and self._sending.acquire(blocking=False):
            try:
                sent = self._publish_handed()
            finally:
                self._sending.release()
            if not sent:
                break

    def _publish_handed(self) -> int:
        """Publishes the handed rows that follow the last row sent; how many (holding
        ``_sending``). The others wait in ``_handed``, and the relay is woken."""
        if not self._handed:
            return 0
        rows = []
        while self._handed:
            rows.append(self._handed.popleft())
        if self._stop.is_set() or self._checked_through is None \
                or not self._leadership.held:
            self._wake.set()  # the next leadership reads them
            return 0
        rows.sort(key=lambda item: item[0])  # handed over by threads in any order
        after, sent = self._sent_through(), 0
        for n, (row_id, row) in enumerate(rows):
            if row_id <= after:
                continue  # a pass read it from the outbox meanwhile
            if row_id != after + 1 or len(self._inflight) >= _MAX_INFLIGHT:
                self._handed.extendleft(reversed(rows[n:]))  # missing row, or no room
                self._wake.set()
                break
            try:
                self._publish(row_id, row["topic"], row["payload"], row["key"], row["headers"])
            except MessagingError:  # not queued: a pass sends (or sets aside) it, from the outbox
                self._read_needed = True
                self._wake.set()
                break
            after, sent = row_id, sent + 1
        return sent

    def _publish(self, row_id: int, topic: str, payload: str, key: str | None,
                 headers: str | None) -> None:
        future = self.producer.publish(topic, payload.encode(), key=key,
                                       headers=json.loads(headers) if headers else None)
        future.add_done_callback(self._delivered)
        self._inflight.append((row_id, future))

    def _sent_through(self) -> int:
        """The highest id sent and not deleted yet (0: none); every row below it was sent."""
        if self._inflight:
            return self._inflight[-1][0]
        return self._confirmed[-1] if self._confirmed else 0

    def stop(self, timeout: float = 10.0) -> None:
        """Publishes what it can within ``timeout``, then stops; rows left wait for next time."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        # a handoff under way ends first, and none starts after
        got = self._sending.acquire(timeout=max(0.0, deadline - time.monotonic()))
        try:
            if got:  # while every broker is down, nothing is waited for
                self._stopped(deadline if self.producer.reachable else time.monotonic())
            self._reset()
        finally:
            if got:
                self._sending.release()

    def _stopped(self, deadline: float) -> None:
        """Deletes the rows Kafka confirms by ``deadline`` (once the relay's thread ended)."""
        if self._thread is None or not self._thread.is_alive():
            # what is on its way: delete what Kafka confirms in time, not send it again
            confirmed, self._confirmed = self._confirmed, []
            for row_id, future in self._inflight:
                try:
                    future.result(max(0.0, deadline - time.monotonic()))
                except Exception:  # undelivered: the row stays for next time
                    break
                confirmed.append(row_id)
            with contextlib.suppress(Exception):
                self._delete(confirmed)

    def pending(self) -> int:
        """Rows still waiting in the outbox."""
        with self.store.connect(read_only=True) as conn:
            return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                moved = self.relay_once() if self._leadership.try_acquire() else 0
            except Exception as exc:  # the store or Kafka failed: keep the rows, try again later
                if not self._stop.is_set():  # else the failure is the stop cutting a wait short
                    log.warning("outbox relay: %s; retrying in %gs", exc, self.retry_interval)
                self._step_down()
                self._stop.wait(self.retry_interval)
                continue
            if moved == 0:
                if not self._wake.wait(self.poll_interval):
                    self._read_needed = True  # at every poll, whoever woke it or not
                self._wake.clear()

    def _step_down(self) -> None:
        with self._sending:
            self._reset()

    def _reset(self) -> None:
        if self._confirmed:  # not sent again if the store lets them go
            with contextlib.suppress(Exception):
                self._delete(self._confirmed)
        self._leadership.release()
        # Whoever leads next (this relay included) cannot know what was sent meanwhile.
        self._checked_through = None
        self._inflight = []  # sent again from the first row still in the outbox
        self._confirmed = []
        self._handed.clear()
        self._read_needed = True

    def relay_once(self) -> int:
        """Publishes the next rows and deletes those Kafka confirmed; how many rows moved.

        Rows are published without waiting for the confirmation of the rows before them
        (the idempotent producer keeps them in order), so a row committed while others are
        on their way leaves at once. The first call of a leadership scans Kafka for rows
        with a message id first (see :meth:`drop_published`); it raises, publishing
        nothing, if the scan fails. A failed delivery raises after the rows confirmed
        before it are deleted.

        Confirmed rows are deleted by a pass that has nothing new to publish, or once a
        batch of them has gathered: a delete is a write, and made before publishing it
        would hold back the rows just committed behind the commit of others.
        """
        with self._sending:
            try:
                moved = self._pass()
            except BaseException:
                self._checked_through = None  # no handoff until the next leadership's scan
                raise
        self._send_handed()
        return moved

    def _pass(self) -> int:
        # Rows handed over since the last pass first: the row that was missing before them
        # may have come meanwhile. The outbox is read when someone wrote rows without
        # handing them over (notify), at every poll, and when handed rows still wait.
        moved = self._publish_handed()
        rows: list[Row[Any]] = []
        skipped = 0
        read = self._read_needed or bool(self._handed) or self._checked_through is None
        if read:
            room = self._room()
            rows = self._next_batch(room)
            self._read_needed = len(rows) >= room > 0  # a full batch: more may be waiting
        if self._checked_through is None:
            if not rows:
                # Nothing pending: rows written from now on cannot have been published before.
                self._checked_through = 0
                return 0
            skipped = self.drop_published()
            if skipped:
                rows = self._next_batch(self._room())
        for row in rows:
            self._send(row)
        confirmed = self._confirmed
        failure: BaseException | None = None
        while self._inflight and self._inflight[0][1].done():
            row_id, future = self._inflight[0]
            try:
                future.result()
            except MessagingError as exc:
                if isinstance(exc, MessageRefused):  # by the broker, for one row of a batch
                    self._alone_through = self._inflight[-1][0]
                failure = exc
                break
            confirmed.append(row_id)
            self._inflight.pop(0)
        deleted = 0
        if confirmed and ((read and not rows) or failure is not None
                          or len(confirmed) >= self.batch):
            self._delete(confirmed)
            self.published += len(confirmed)
            deleted, self._confirmed = len(confirmed), []
        if failure is not None:
            raise failure
        return moved + skipped + len(rows) + deleted

    def _send(self, row: Row[Any]) -> None:
        """Publishes a row read from the outbox, or sets it aside if Kafka never takes it."""
        if row.id > self._alone_through:
            self._alone_through = 0  # rows come in id order: those on their way are done
            try:
                self._publish(row.id, row.topic, row.payload, row.key, row.headers)
                return
            except MessageRefused as exc:  # sending it again cannot succeed
                set_aside(self.store, row.id, row._asdict(), str(exc), self.alarms)
        elif send_alone(self.store, self.producer, row._asdict(), self.scanner.timeout,
                        self.alarms):  # on its way when the broker refused a batch
            self._confirmed.append(row.id)
            return
        self.refused += 1
        self._read_needed = True  # the alarm's row

    def _delivered(self, _future: Future[Delivery]) -> None:
        # Confirmed rows are deleted in batches: only a relay waiting for room is woken.
        if len(self._inflight) >= _MAX_INFLIGHT:
            self._wake.set()

    def _room(self) -> int:
        return self.batch if len(self._inflight) < _MAX_INFLIGHT else 0

    def _next_batch(self, room: int) -> list[Row[Any]]:
        """The first rows of the outbox not yet handed to the producer, in id order.

        On PostgreSQL, read from the start of the outbox each time, not from the last id
        sent: a transaction may commit a lower id after a higher one became visible. The
        rows sent and not yet deleted are left out by the query, not skipped here: under
        load they are most of the head of the outbox. On SQLite writers take turns, so a
        row committed later has a higher id than every row still in the outbox, those in
        flight included: reading after the last one in flight misses nothing.
        """
        if room == 0:
            return []
        with self.store.connect(read_only=True) as conn:
            if self.store.dialect == "sqlite":
                return list(_AFTER.rows(conn, {"b_after": self._sent_through(),
                                               "b_limit": room}))
            sent = [row_id for row_id, _future in self._inflight] + self._confirmed
            return list(_UNSENT.rows(conn, {"b_sent": sent, "b_limit": room}))

    def drop_published(self) -> int:
        """Deletes the pending rows whose message id is already on their topic; how many.

        Covers every row with a message id pending now; rows written later were never
        published, so one successful call per leadership is enough. Raises (keeping all
        rows) if our own producer still holds messages, or Kafka cannot be read.
        """
        # A message of an earlier, failed batch may still be in our producer's queue: if it
        # reached Kafka after the scan, the scan would miss it and the row be sent twice.
        left = self.producer.flush(self.scanner.timeout)
        if left:
            raise MessagingError(f"kafka {self.producer.bootstrap_servers}: {left} earlier "
                                 f"message(s) still undelivered; not scanning yet")
        with self.store.connect(read_only=True) as conn:
            high = int(conn.execute(select(func.max(outbox.c.id))).scalar() or 0)
            rows = conn.execute(
                select(outbox.c.id, outbox.c.topic, outbox.c.headers, outbox.c.created_at)
                .where(outbox.c.id <= high)
                .where(outbox.c.headers.contains(MESSAGE_ID_HEADER, autoescape=True))).all()
        sent, looked_for, result = published_rows(self.scanner, rows, self.clock_margin)
        self._delete(sent)  # one transaction
        self.skipped += len(sent)
        self._checked_through = high
        if looked_for:
            log.info("outbox relay: %d of %d message id(s) already on Kafka, their rows "
                     "deleted unsent (%d message(s) read in %.3fs)", len(sent), looked_for,
                     result.read, result.seconds)
        return len(sent)

    def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.store.connect() as conn:
            for chunk in _chunks(ids, 500):
                conn.execute(delete(outbox).where(outbox.c.id.in_(chunk)))
            conn.commit()


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

