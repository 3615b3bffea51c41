"""Shared fixtures: real servers on loopback, started and stopped by the tests."""

# tests/ is deliberately not a package: pytest then puts tests/ (not the repository) on sys.path,
# so "import framework" finds the installed package, and tox catches what the wheel lacks.

pytest_plugins = ["fixtures.kafka", "fixtures.store", "fixtures.servers", "fixtures.relay",
                  "fixtures.brent", "fixtures.aai", "fixtures.openstack"]
