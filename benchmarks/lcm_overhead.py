"""Per-task overhead of the lifecycle engine: no-op tasks in one operation.

    python benchmarks/lcm_overhead.py [--backend sqlite|postgresql|both] [--sizes 100,1000,10000]
                                      [--shape independent|chain] [--workers 4]

For each size, one operation of that many no-op tasks (independent, or a chain where each
depends on the one before) is submitted and run to
COMPLETED by the engine's workers; the time covers submit (the DAG persisted) through the
last transition committed with its outbox rows. Reports ms per task, the ratio of ms per
task at the largest size to the smallest, and commits per task. PostgreSQL is the server
on 127.0.0.1:5432 (NFVD_BENCH_POSTGRES_URL to change), in a fresh database per run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from databases import fresh_database
from sqlalchemy import event

from framework.engine import Engine, TaskCatalog, TaskContext, TaskSpec, TaskType
from framework.store import open_store
from framework.store.lcm import SqlRepository


class Noop(TaskType):
    side_effects = False

    def action(self, ctx: TaskContext) -> Mapping[str, Any] | None:
        return None


def run(backend: str, size: int, workers: int, folder: Path, shape: str) -> dict[str, float]:
    url, drop = fresh_database(backend, folder)
    store = open_store(url)
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(store.engine, "commit", count)
    engine = Engine(SqlRepository(store), TaskCatalog({"noop": Noop()}), workers=workers,
                    poll_interval=0.05)
    engine.start()
    try:
        tasks = [TaskSpec(name=f"t{i}", type="noop",
                          depends_on=(f"t{i - 1}",) if shape == "chain" and i else ())
                 for i in range(size)]
        commits = 0
        started = time.perf_counter()
        operation, _ = engine.submit("bench", tasks)
        engine.wait(operation.id, {"COMPLETED"}, timeout=3600)
        elapsed = time.perf_counter() - started
        taken = commits
    finally:
        engine.stop()
        store.close()
        if drop:
            drop()
    return {"ms_per_task": elapsed * 1000 / size, "commits_per_task": taken / size,
            "seconds": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--shape", choices=("independent", "chain"), default="independent")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"shape: {args.shape}, workers: {args.workers}")
    print(f"{'backend':<11}{'tasks':>7}{'ms/task':>10}{'commits/task':>14}{'total s':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            figures = {}
            for size in sizes:
                figures[size] = run(backend, size, args.workers, Path(folder), args.shape)
                f = figures[size]
                print(f"{backend:<11}{size:>7}{f['ms_per_task']:>10.3f}"
                      f"{f['commits_per_task']:>14.2f}{f['seconds']:>9.2f}", flush=True)
            ratio = figures[sizes[-1]]["ms_per_task"] / figures[sizes[0]]["ms_per_task"]
            print(f"{backend:<11} ratio ms/task {sizes[-1]}/{sizes[0]}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
