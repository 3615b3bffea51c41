"""The docs say what the code does: settings table, quick start, hooks and operations documented."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import yaml

from framework.config import SETTINGS
from framework.plugins import hookspecs

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(NFVD_[A-Z_]+)` \|", README, re.MULTILINE))
    assert documented == {setting.env for setting in SETTINGS}
    for setting in SETTINGS:
        assert setting.help in README, setting.env


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(.+?)\n```", README, re.DOTALL)
    test_command = commands[1].strip()
    assert test_command == "python3 -m pip install tox && tox"
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "nfvd serve" in commands[0]


def test_every_hook_is_documented() -> None:
    hooks = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(f, "nfvd_spec")]
    assert {hook.__name__ for hook in hooks} >= {"hpa_discover", "coordinate_vnfc"}
    for hook in hooks:
        doc = inspect.getdoc(hook) or ""
        assert "Called" in doc and ":return:" in doc, hook.__name__
        assert re.fullmatch(r"[a-z]+_[a-z_]+", hook.__name__)  # <area>_<action>


def _operations() -> list[tuple[str, str]]:
    found = []
    for spec_path in sorted((ROOT / "specs").glob("*.yaml")):
        spec = yaml.safe_load(spec_path.read_text())
        for path in spec["paths"].values():
            for operation in path.values():
                if isinstance(operation, dict) and "operationId" in operation:
                    found.append((spec_path.name, operation["operationId"]))
    return found


def test_every_operation_resolves_to_a_documented_handler() -> None:
    operations = _operations()
    assert operations
    for spec, operation_id in operations:
        module, _, name = operation_id.rpartition(".")
        handler = getattr(importlib.import_module(module), name)
        assert callable(handler), (spec, operation_id)
        assert inspect.getdoc(handler), f"{operation_id} has no docstring"


def test_every_operation_is_exercised_by_a_test() -> None:
    tests_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for spec, operation_id in _operations():
        spec_doc = yaml.safe_load((ROOT / "specs" / spec).read_text())
        base = spec_doc["servers"][0]["url"].rstrip("/")
        paths = [base + p for p, item in spec_doc["paths"].items()
                 if any(isinstance(o, dict) and o.get("operationId") == operation_id
                        for o in item.values())]
        # a path parameter is written in a test as a literal or as an f-string field
        patterns = [re.escape(p.rstrip("/")).replace(r"\{", "{").replace(r"\}", "}")
                    for p in paths]
        patterns = [re.sub(r"\{[^}]+\}", r"(?:\\{[^}]*\\}|[^/\\s\"']+)", p)
                    for p in patterns]
        assert any(re.search(p, tests_text) for p in patterns), f"no test requests {paths}"
