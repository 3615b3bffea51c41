"""The tables of the store, as SQLAlchemy Core objects; migrations create them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.sql.elements import TextClause

metadata = MetaData()

#: Transactional outbox: rows are written in the same transaction as the state change
#: they announce, and a relay publishes them to Kafka afterwards, then deletes them.
outbox = Table(
    "outbox",
    metadata,
    # SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid alias); BIGINT there
    # would be a plain column that never gets a value.
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    # 249 characters is Kafka's limit on a topic name.
    Column("topic", String(249), nullable=False),
    Column("key", String(255), nullable=True),
    Column("payload", Text, nullable=False),  # JSON
    Column("headers", Text, nullable=True),  # JSON object of header name to value
    Column("created_at", Float, nullable=False),  # seconds since the epoch
)

#: Outbox rows Kafka will never take as they are (too large, refused by the broker): the
#: relay moves each here, with the reason, instead of holding back every row after it, and
#: raises the alarm ``kafka-message-refused``. Kept for operators (``nfvd outbox``).
outbox_refused = Table(
    "outbox_refused",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),  # the row's id in the outbox
    Column("topic", String(249), nullable=False),
    Column("key", String(255), nullable=True),
    Column("payload", Text, nullable=False),
    Column("headers", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("refused_at", Float, nullable=False),
    Column("reason", Text, nullable=False),
)


def _where(condition: TextClause) -> dict[str, Any]:
    """Dialect options that make an index partial, on PostgreSQL and SQLite alike."""
    return {"postgresql_where": condition, "sqlite_where": condition}


#: Lifecycle operations (see framework/engine/README.md). ``seq`` is the number of the last
#: outbox event of the operation; the counters let a finishing task decide the operation's
#: next state without reading its other tasks.
lcm_operations = Table(
    "lcm_operations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("direction", String(8), nullable=False),  # forward | rollback
    Column("request", Text, nullable=True),  # JSON
    Column("error", Text, nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("seq", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),  # bumped by every change of state
    Column("tasks_left", Integer, nullable=False),  # not yet SUCCEEDED or SKIPPED
    Column("ready", Integer, nullable=False),  # PENDING with no dependency left to wait for
    Column("rollback_left", Integer, nullable=False),  # marked for compensation, not done
    Column("created_at", Float, nullable=False),  # seconds since the epoch
    Column("updated_at", Float, nullable=False),
    Index("uq_lcm_operations_idempotency_key", "idempotency_key", unique=True),
    Index("ix_lcm_operations_state", "state", "created_at"),
    Index("ix_lcm_operations_created", "created_at"),
)

#: Tasks of lifecycle operations, by position (``idx``) in their operation. A task is
#: claimable forward when PENDING with ``deps_left`` = 0, and for compensation when
#: ``rdeps_left`` = 0 (NULL: not to compensate); both counters are decremented as the
#: tasks they wait for finish, so claiming never scans the other tasks.
lcm_tasks = Table(
    "lcm_tasks",
    metadata,
    Column("operation_id", String(64), ForeignKey("lcm_operations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=False),
    Column("type", String(128), nullable=False),
    Column("params", Text, nullable=False),  # JSON object
    Column("depends_on", Text, nullable=False),  # JSON list of idx
    Column("dependents", Text, nullable=False),  # JSON list of idx
    Column("timeout", Float, nullable=True),  # seconds
    Column("cancellable", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("deps_left", Integer, nullable=False),
    Column("rdeps_left", Integer, nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("version", Integer, nullable=False),  # bumped by every change of state or lease
    Column("lease_owner", String(255), nullable=True),
    Column("lease_expires", Float, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("result", Text, nullable=True),  # JSON
    Column("error", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("side_effects", Text, nullable=False),  # JSON list of objects
    Column("abandoned", Boolean, nullable=False),
    # No index on (operation_id, name): the engine checks names are unique before insert,
    # and another index led by operation_id can draw PostgreSQL's planner away from the
    # primary key (a scan of the operation's tasks for each update) while statistics lag.
    # Partial indexes: a task is in each only while it may be claimed or recovered, so
    # most updates of a task touch none of them and the indexes stay small.
    Index("ix_lcm_tasks_ready", "operation_id", "deps_left", "idx",
          **_where(text("state = 'PENDING'"))),
    Index("ix_lcm_tasks_compensable", "operation_id", "rdeps_left", "idx",
          **_where(text("rdeps_left IS NOT NULL"))),
    Index("ix_lcm_tasks_leased", "lease_expires",
          **_where(text("lease_owner IS NOT NULL"))),
)

#: Named binary contents stored with an operation (a resource package), read by its tasks.
lcm_attachments = Table(
    "lcm_attachments",
    metadata,
    Column("operation_id", String(64), ForeignKey("lcm_operations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

#: Notices sent once per operation (the terminal message of a resource-driver request): a
#: row here, written in the transaction that queues the notice, says it was queued.
lcm_notices = Table(
    "lcm_notices",
    metadata,
    Column("operation_id", String(64), ForeignKey("lcm_operations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),  # seconds since the epoch
)


#: MultiCloud regions registered into A&AI: the last registration's operation, and the ids of
#: the flavors nfvd wrote for the region (what unregistering the region removes).
mc_regions = Table(
    "mc_regions",
    metadata,
    Column("cloud_owner", String(255), primary_key=True),
    Column("cloud_region_id", String(255), primary_key=True),
    Column("operation_id", String(64), nullable=False),
    Column("flavors", Text, nullable=False),  # JSON list of flavor ids
    Column("updated_at", Float, nullable=False),  # seconds since the epoch
)


#: Workloads of the infra_workload API: where each lives, the engine operations that created,
#: updated (A&AI) and deleted it, and the A&AI vservers its update wrote.
mc_workloads = Table(
    "mc_workloads",
    metadata,
    Column("cloud_owner", String(255), primary_key=True),
    Column("cloud_region_id", String(255), primary_key=True),
    Column("workload_id", String(255), primary_key=True),
    Column("name", String(255), nullable=False, index=True),
    Column("template_type", String(64), nullable=False),
    Column("project", String(255), nullable=False),  # the Project header; "" for the default
    Column("create_operation", String(64), nullable=False),
    Column("operation_id", String(64), nullable=False),  # the latest operation on it
    Column("operation_kind", String(64), nullable=False),
    Column("generic_vnf_id", String(255), nullable=True),
    Column("vf_module_id", String(255), nullable=True),
    Column("aai", Text, nullable=False),  # JSON: {"tenant": id, "vservers": [ids]} written
    Column("deleted", Boolean, nullable=False),
    Column("updated_at", Float, nullable=False),  # seconds since the epoch
)
