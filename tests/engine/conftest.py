"""Fixtures of the engine tests: a repository on each store, engines that stop at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.helpers import FAST, EngineFactory
from engine.ledger import Ledger, ledger_catalog
from framework.engine import Engine, TaskCatalog
from framework.store import Store, open_store
from framework.store.lcm import SqlRepository


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.json")


@pytest.fixture
def repository(store: Store) -> SqlRepository:
    return SqlRepository(store)


@pytest.fixture
def make_engine(store: Store, repository: SqlRepository,
                ledger: Ledger) -> Iterator[EngineFactory]:
    """``make_engine(start=True, catalog=None, own_store=False, **options)``: an engine on
    the test's store, with the ledger's task types (or ``catalog``). With ``own_store``, it
    has a Store of its own on the same database, as another nfvd process would. Every
    engine is stopped at teardown, before the stores close."""
    engines: list[Engine] = []
    stores: list[Store] = []

    def make(start: bool = True, catalog: TaskCatalog | None = None, own_store: bool = False,
             **options: Any) -> Engine:
        if own_store:
            stores.append(open_store(store.engine.url.render_as_string(hide_password=False)))
        engine = Engine(SqlRepository(stores[-1]) if own_store else repository,
                        catalog or ledger_catalog(ledger), **{**FAST, **options})
        engines.append(engine)
        if start:
            engine.start()
        return engine

    yield make
    for engine in engines:
        engine.stop(timeout=5)
    for own in stores:
        own.close()


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    """A started engine on the test's store, with the ledger's task types."""
    return make_engine()
