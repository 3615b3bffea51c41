"""The scheduler's scan for work against the backlog: how long finding the oldest runnable
operations takes when thousands wait.

    python benchmarks/runnable_scan.py [--database sqlite|postgresql] [--backlog 100,1000,10000]

For each backlog size, in a fresh database: that many one-task operations are submitted to an
engine that is not started (so all of them wait, PROCESSING with a task ready), then the
scheduler's query for 4 runnable operations (its usual batch) is run 200 times; the mean per
query is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from databases import fresh_database

from framework.engine import Engine, TaskCatalog, TaskSpec
from framework.store import lcm_sql, open_store
from framework.store.lcm import SqlRepository

ROUNDS = 200


def measure(backend: str, backlog: int, folder: Path) -> float:
    """Milliseconds per scan for 4 runnable operations with ``backlog`` waiting."""
    url, drop = fresh_database(backend, folder)
    store = open_store(url)
    try:
        engine = Engine(SqlRepository(store), TaskCatalog({}))
        for _ in range(backlog):
            engine.submit("bench", [TaskSpec("a", "noop")])
        with store.connect(read_only=True) as conn:
            assert len(lcm_sql.RUNNABLE.rows(conn, {"b_limit": 4})) == 4  # noqa: S101
            started = time.perf_counter()
            for _ in range(ROUNDS):
                lcm_sql.RUNNABLE.rows(conn, {"b_limit": 4})
            return (time.perf_counter() - started) / ROUNDS * 1000
    finally:
        store.close()
        if drop is not None:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--backlog", default="100,1000,10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for backlog in (int(size) for size in args.backlog.split(",")):
            ms = measure(args.database, backlog, Path(folder))
            print(f"{args.database}: {backlog} waiting: {ms:.3f} ms per scan")


if __name__ == "__main__":
    main()
