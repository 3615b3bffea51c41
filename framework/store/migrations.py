"""Versioned schema migrations, applied in-process when nfvd starts.

Alembic is not used: nfvd only needs forward migrations run at start under an advisory
lock, which a small runner does without an extra dependency or ini/env.py scaffolding.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    inspect,
    select,
)

from framework.store import tables

#: Key of the PostgreSQL advisory lock that serialises migrations between processes
#: (an arbitrary constant shared by every nfvd: the bytes ``nfvdmigr`` as a bigint).
ADVISORY_LOCK_KEY = int.from_bytes(b"nfvdmigr", "big")

# The bookkeeping table is not part of ``tables.metadata``: that metadata describes the
# application schema, which the migrations below create and change.
_bookkeeping = MetaData()
schema_migrations = Table(
    "nfvd_schema_migrations",
    _bookkeeping,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", Float, nullable=False),  # seconds since the epoch
)


class MigrationError(Exception):
    """The schema cannot be brought to the version this nfvd expects."""


@dataclasses.dataclass(frozen=True)
class Migration:
    """One forward schema change.

    ``apply`` runs inside the transaction that records ``version``, so a migration is
    either applied and recorded, or neither. It must use SQLAlchemy Core constructs (not
    dialect-specific SQL) so that it is right on SQLite and PostgreSQL alike.
    """

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_outbox(conn: Connection) -> None:
    # This uses the current definition of the table. Before a later migration changes
    # ``tables.outbox``, copy today's columns into a private Table here, so that a fresh
    # database still goes through the same steps as an old one.
    tables.outbox.create(conn)


def _create_lcm(conn: Connection) -> None:
    # As for the outbox: before a later migration changes these tables, copy today's
    # definitions here so that a fresh database goes through the same steps.
    tables.lcm_operations.create(conn)
    tables.lcm_tasks.create(conn)


def _create_attachments_and_notices(conn: Connection) -> None:
    # As above: copy these definitions here before a later migration changes them.
    tables.lcm_attachments.create(conn)
    tables.lcm_notices.create(conn)


def _create_regions(conn: Connection) -> None:
    # As above: copy this definition here before a later migration changes it.
    tables.mc_regions.create(conn)


def _create_workloads(conn: Connection) -> None:
    # As above: copy this definition here before a later migration changes it.
    tables.mc_workloads.create(conn)


def _create_outbox_refused(conn: Connection) -> None:
    # As above: copy this definition here before a later migration changes it.
    tables.outbox_refused.create(conn)


#: Every migration, in increasing version order; versions are never reused or reordered.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create the outbox table", _create_outbox),
    Migration(2, "create the lifecycle operation and task tables", _create_lcm),
    Migration(3, "create the operation attachment and notice tables",
              _create_attachments_and_notices),
    Migration(4, "create the MultiCloud region table", _create_regions),
    Migration(5, "create the MultiCloud workload table", _create_workloads),
    Migration(6, "create the table of outbox rows Kafka refused", _create_outbox_refused),
)


def _take_lock(conn: Connection) -> None:
    # PostgreSQL: the lock is released with the transaction, so a crashed process cannot
    # leave it behind. SQLite needs nothing here: the Store begins every transaction with
    # BEGIN IMMEDIATE, which already holds the database's single write lock.
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))


def _check(migrations: Sequence[Migration], applied: set[int]) -> None:
    versions = [migration.version for migration in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migration versions must be positive and increasing, got {versions}")
    unknown = sorted(applied - set(versions))
    if unknown:
        raise MigrationError(
            f"the schema has migrations this nfvd does not know ({', '.join(map(str, unknown))}): "
            "it was migrated by a newer nfvd"
        )


def run(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the pending ``migrations`` in order; return the versions applied by this call.

    ``engine`` must come from a :class:`~framework.store.Store`, whose SQLite transactions
    begin with BEGIN IMMEDIATE. Each migration runs in its own transaction, which first
    takes the migration lock and then re-reads the applied versions, so processes that
    start together apply each migration exactly once; the others find it done. Calling
    this again applies nothing.

    Raises :class:`MigrationError` if the database holds a version not in ``migrations``;
    database errors propagate as SQLAlchemy exceptions, and roll back the migration that
    raised them.
    """
    applied_here: list[int] = []
    while True:
        with engine.begin() as conn:
            _take_lock(conn)
            schema_migrations.create(conn, checkfirst=True)
            applied: set[int] = set(conn.scalars(select(schema_migrations.c.version)))
            _check(migrations, applied)
            pending = [migration for migration in migrations if migration.version not in applied]
            if not pending:
                return applied_here
            migration = pending[0]
            migration.apply(conn)
            conn.execute(
                schema_migrations.insert().values(
                    version=migration.version,
                    description=migration.description,
                    applied_at=time.time(),
                )
            )
        applied_here.append(migration.version)


def current_version(conn: Connection) -> int:
    """The highest migration version applied, or 0 for a database never migrated."""
    if not inspect(conn).has_table(schema_migrations.name):
        return 0
    version = conn.scalar(select(func.max(schema_migrations.c.version)))
    return int(version or 0)
