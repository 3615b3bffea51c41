"""How the Store uses its pooled PostgreSQL connections (a real server): reads run in
autocommit so that psycopg keeps the statements it prepared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fixtures.store import PostgresServer

from framework.store import Store


@pytest.fixture
def fresh_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of its own: the tests close every connection to it."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def store(fresh_url: str) -> Iterator[Store]:
    store = Store(fresh_url)
    yield store
    store.close()


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
