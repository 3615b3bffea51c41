"""framework/engine does no I/O of its own: it imports no database, network or process module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import framework.engine

ENGINE = Path(framework.engine.__file__).resolve().parent
FORBIDDEN = ("sqlalchemy", "confluent_kafka", "requests", "socket", "subprocess",
             "framework.store", "framework.messaging", "framework.api")


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (relative ones resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = "framework.engine".rsplit(".", node.level - 1)[0]
                base = f"{package}.{base}" if base else package
            names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    return names


def is_forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)


MODULES = sorted(ENGINE.glob("*.py"))


def test_the_engine_has_modules() -> None:
    assert {path.name for path in MODULES} >= {"engine.py", "machine.py", "model.py",
                                               "ports.py", "task.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_engine_module_imports_io(path: Path) -> None:
    assert sorted(name for name in imported(path) if is_forbidden(name)) == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text("import socket\nfrom sqlalchemy import select\n"
                      "def f():\n    from framework.store import lcm\n"
                      "from .. import store\nimport json\n")
    found = sorted(name for name in imported(module) if is_forbidden(name))
    assert found == ["framework.store", "framework.store.lcm", "socket", "sqlalchemy",
                     "sqlalchemy.select"]
