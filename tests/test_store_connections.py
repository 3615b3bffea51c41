"""How the Store uses its pooled PostgreSQL connections (a real server): a connection idle
in the pool is tested before use, one used a moment ago is not, and reads run in autocommit
so that psycopg keeps the statements it prepared."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fixtures.store import PostgresServer

from framework.store import Store, database


@pytest.fixture
def store(postgres_database: str) -> Iterator[Store]:
    """A Store on a database of its own: the tests close every connection to it."""
    store = Store(postgres_database)
    yield store
    store.close()


def backend(store: Store) -> int:
    """The server process of the connection the store hands out next."""
    with store.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_connection_closed_while_idle_is_replaced_before_use(
        store: Store, postgres_database: str, postgres_server: PostgresServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = backend(store)
    assert postgres_server.terminate_backends(postgres_database) == 1
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.05)
    time.sleep(0.1)
    assert backend(store) != first  # tested on checkout, replaced: no error


def test_connection_closed_between_close_uses_fails_once_then_is_replaced(
        store: Store, postgres_database: str, postgres_server: PostgresServer) -> None:
    first = backend(store)
    assert postgres_server.terminate_backends(postgres_database) == 1
    with pytest.raises(sa.exc.OperationalError) as failed:
        backend(store)
    assert failed.value.connection_invalidated
    assert backend(store) != first


def test_only_a_connection_idle_for_a_while_is_tested(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    dialect = store.engine.dialect
    real_ping = dialect.do_ping
    pings: list[object] = []

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    same = {backend(store) for _ in range(5)}  # a new connection, then four quick reuses
    assert len(same) == 1
    assert pings == []
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)
    assert backend(store) in same
    assert len(pings) == 1


def test_reads_run_in_autocommit_and_keep_prepared_statements(store: Store) -> None:
    with store.connect() as conn:
        for _ in range(8):  # psycopg prepares a statement from its sixth run on
            conn.execute(sa.text("SELECT 1 + :x"), {"x": 1})
        prepared = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared.scalar_one() >= 1
        conn.commit()  # a ROLLBACK would make psycopg drop them (DEALLOCATE ALL)
    with store.connect(read_only=True) as conn:
        assert conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        assert conn.execute(sa.text("SELECT 2")).scalar_one() == 2
    with store.connect() as conn:
        assert not conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        kept = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        assert kept.scalar_one() >= 1
