"""Shared fixtures: real servers on loopback, started and stopped by the tests."""

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.store", "tests.fixtures.servers"]
