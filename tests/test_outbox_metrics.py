"""The outbox on /metrics: how many events wait for Kafka and for how long, and how many
Kafka refused for good."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from fixtures.kafka import free_port
from fixtures.servers import ThreadServer

from framework.config import Settings
from framework.messaging import refused
from framework.messaging.refused import set_aside
from framework.store import Store, open_store


def gauges(server: ThreadServer) -> dict[str, float]:
    text = requests.get(server.url + "/metrics", timeout=5).text
    return {name: float(value) for name, value in
            re.findall(r"^(nfvd_outbox_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.MULTILINE)}


def test_events_waiting_for_kafka_and_set_aside_are_on_metrics(
        serve: Callable[..., ThreadServer], settings_factory: Callable[..., Settings]) -> None:
    # nothing listens there: every event waits in the outbox
    server = serve(settings_factory(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}"))
    assert gauges(server) == {'nfvd_outbox_events{state="refused"}': 0,
                              'nfvd_outbox_events{state="waiting"}': 0,
                              "nfvd_outbox_oldest_waiting_seconds": 0}
    created = requests.post(server.url + "/api/lcm/operations", timeout=5,
                            json={"driver": "fake", "lifecycleName": "Install"})
    assert created.status_code == 201, created.text
    time.sleep(0.5)
    seen = gauges(server)
    assert seen['nfvd_outbox_events{state="waiting"}'] >= 1
    assert seen["nfvd_outbox_oldest_waiting_seconds"] >= 0.5

    store = open_store(server.settings.database_url)
    try:
        set_aside(store, 10_000_001, {"topic": "t", "key": None, "payload": "{}",
                                      "headers": None, "created_at": time.time()}, "too large")
    finally:
        store.close()
    assert gauges(server)['nfvd_outbox_events{state="refused"}'] == 1


def test_one_read_of_the_outbox_serves_both_gauges(
        serve: Callable[..., ThreadServer], monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve()
    reads: list[int] = []

    def counted(store: Store) -> dict[str, Any]:
        reads.append(1)
        return real(store)

    real = refused.status
    monkeypatch.setattr(refused, "status", counted)
    for scrape in (1, 2):
        seen = gauges(server)
        assert seen["nfvd_outbox_oldest_waiting_seconds"] == 0
        assert seen['nfvd_outbox_events{state="waiting"}'] == 0
        assert len(reads) == scrape  # one per scrape, fresh each time
