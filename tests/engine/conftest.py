"""Fixtures of the engine tests: a repository on each store, engines that stop at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.helpers import FAST, EngineFactory
from engine.ledger import Ledger, ledger_catalog
from framework.engine import Engine, TaskCatalog
from framework.store import Store
from framework.store.lcm import SqlRepository


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.json")


@pytest.fixture
def repository(store: Store) -> SqlRepository:
    return SqlRepository(store)


@pytest.fixture
def make_engine(repository: SqlRepository, ledger: Ledger) -> Iterator[EngineFactory]:
    """``make_engine(start=True, catalog=None, store=None, **options)``: an engine on the
    test's store (or on ``store``), with the ledger's task types (or ``catalog``). Every
    engine is stopped at teardown, before its store closes."""
    engines: list[Engine] = []

    def make(start: bool = True, catalog: TaskCatalog | None = None,
             store: Store | None = None, **options: Any) -> Engine:
        engine = Engine(SqlRepository(store) if store else repository,
                        catalog or ledger_catalog(ledger), **{**FAST, **options})
        engines.append(engine)
        if start:
            engine.start()
        return engine

    yield make
    for engine in engines:
        engine.stop(timeout=5)


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    """A started engine on the test's store, with the ledger's task types."""
    return make_engine()
