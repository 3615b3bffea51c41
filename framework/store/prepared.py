"""Statements compiled once per dialect and run on the driver's cursor: the SQL of hot paths.

SQLAlchemy Core executes a statement in about as much Python as SQLite needs to run it
(cache key, execution context, result object). The statements the engine and the outbox
run for every operation are the same each time, so they are compiled once and their
parameters handed straight to the DBAPI cursor of the connection, inside the transaction
SQLAlchemy began: same SQL, same transaction, errors wrapped as SQLAlchemy's own.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class _Compiled(NamedTuple):
    sql: str
    defaults: Mapping[str, Any]
    convert: Mapping[str, Callable[[Any], Any]]
    row: Callable[..., Any] | None
    #: the parameters in their positions, from a mapping that has them all; None: by name
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None


def _picker(order: Sequence[str] | None) -> Callable[[Mapping[str, Any]], tuple[Any, ...]] | None:
    if order is None:
        return None
    if not order:
        return lambda _values: ()
    if len(order) == 1:
        name = order[0]
        return lambda values: (values[name],)
    return operator.itemgetter(*order)  # a tuple for 2 names or more


class Prepared:
    """``statement`` (a Core SELECT, INSERT, UPDATE or DELETE) ready to run many times.

    ``keys`` are the columns an INSERT is given (SQLAlchemy compiles an INSERT for the
    keys of its parameters). A SELECT's rows are named tuples with the column keys as
    names; values come as the driver gives them (a Boolean may be 0 or 1 on SQLite).
    Statements whose SQL depends on the values (expanding ``IN``) cannot be prepared.
    """

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._keys = list(keys) if keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=self._keys)
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 - a statement compiles to SQL
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a statement with expanding parameters cannot be prepared")
        columns = getattr(self.statement, "selected_columns", None)
        row = collections.namedtuple("Row", [c.key for c in columns],
                                     rename=True) if columns is not None else None
        prepared = _Compiled(compiled.string, dict(compiled.construct_params(_check=False)),
                             {name: convert for name, convert in compiled._bind_processors.items()
                              if callable(convert)}, row,
                             _picker(compiled.positiontup if dialect.positional else None))
        self._compiled[dialect.name] = prepared
        return prepared

    def _params(self, compiled: _Compiled, values: Mapping[str, Any]) -> Any:
        params = {**compiled.defaults, **values}
        for name, convert in compiled.convert.items():
            value = params.get(name)
            if value is not None:
                params[name] = convert(value)
        return params if compiled.pick is None else compiled.pick(params)

    def _cursor(self, conn: Connection) -> tuple[_Compiled, Any]:
        compiled = self._compiled.get(conn.dialect.name) or self._compile(conn.dialect)
        if not conn.in_transaction():
            conn.begin()
        return compiled, conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def _run(self, conn: Connection, work: Callable[[Any, _Compiled], Any],
             params: Any) -> Any:
        compiled, cursor = self._cursor(conn)
        try:
            return work(cursor, compiled)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(compiled.sql, params, exc, conn.dialect.loaded_dbapi.Error,
                                      dialect=conn.dialect) from exc
        finally:
            cursor.close()

    def rows(self, conn: Connection, values: Mapping[str, Any] | None = None) -> list[Any]:
        """The rows of a SELECT (named tuples)."""
        def work(cursor: Any, compiled: _Compiled) -> list[Any]:
            cursor.execute(compiled.sql, self._params(compiled, values or {}))
            make = compiled.row
            assert make is not None  # noqa: S101 - rows() is for SELECTs
            return [make(*row) for row in cursor.fetchall()]

        return self._run(conn, work, values)  # type: ignore[no-any-return]

    def first(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        """The first row of a SELECT, or None."""
        found = self.rows(conn, values)
        return found[0] if found else None

    def run(self, conn: Connection, values: Mapping[str, Any] | None = None) -> int:
        """Run a DML statement once; the number of rows it changed."""
        def work(cursor: Any, compiled: _Compiled) -> int:
            cursor.execute(compiled.sql, self._params(compiled, values or {}))
            return int(cursor.rowcount)

        return self._run(conn, work, values)  # type: ignore[no-any-return]

    def many(self, conn: Connection, values: Iterable[Mapping[str, Any]]) -> int:
        """Run a DML statement once per parameter set (one executemany); rows changed."""
        listed = list(values)
        if not listed:
            return 0

        def work(cursor: Any, compiled: _Compiled) -> int:
            cursor.executemany(compiled.sql, [self._params(compiled, v) for v in listed])
            return int(cursor.rowcount)

        return self._run(conn, work, listed)  # type: ignore[no-any-return]
