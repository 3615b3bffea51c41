"""Tests of the lifecycle engine on SQLite and PostgreSQL."""
