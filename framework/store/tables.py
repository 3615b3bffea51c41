"""The tables of the store, as SQLAlchemy Core objects; migrations create them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, Text

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
