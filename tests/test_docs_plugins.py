"""docs/plugins.md and docs/writing-a-driver.md say what the code does, and cannot drift from it.

Every hook, every public member of ``ResourceDriver``, every field of the request and result
classes, every failure code and every entry-point group has its place in docs/plugins.md, and
nothing is documented there that the code does not have. Every ``nfvd`` command the docs show
exists, with the options they give it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import click
import pytest

from framework import (
    FAILURE_CODES,
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
)
from framework.cli import main
from framework.plugins import hookspecs
from framework.plugins.registry import GROUPS

ROOT = Path(__file__).resolve().parent.parent
PLUGINS_DOC = ROOT / "docs" / "plugins.md"
WRITING_DOC = ROOT / "docs" / "writing-a-driver.md"
DATACLASSES = (LifecycleRequest, LifecycleResult, FindReferenceRequest, FindReferenceResult)


def _chapters(text: str) -> dict[str, dict[str, str]]:
    """``{"## heading": {"`name`": section text}}``: each level-3 section under its chapter.

    The chapter's own text, before its first level-3 heading, is under the key ``""``.
    """
    chapters: dict[str, dict[str, str]] = {}
    chapter, section = "", ""
    for line in text.splitlines():
        if line.startswith("## "):
            chapter, section = line[3:].strip(), ""
        elif line.startswith("### "):
            section = line[4:].strip()
            assert section not in chapters.get(chapter, {}), f"two sections {section}"
        else:
            part = chapters.setdefault(chapter, {})
            part[section] = part.get(section, "") + line + "\n"
    return chapters


def _named_sections(chapter: dict[str, str]) -> dict[str, str]:
    """The sections whose heading is one name in backticks, by that name."""
    named = {}
    for heading, body in chapter.items():
        match = re.fullmatch(r"`(\w+)`", heading)
        if heading:
            assert match, f"heading {heading!r} is not a name in backticks"
            named[match.group(1)] = body
    return named


def _table_names(text: str) -> list[str]:
    """The first column of every table row whose first cell is one name in backticks."""
    return re.findall(r"^\| `([\w.]+)` \|", text, re.MULTILINE)


@pytest.fixture(scope="module")
def chapters() -> dict[str, dict[str, str]]:
    return _chapters(PLUGINS_DOC.read_text())


def _hooks() -> dict[str, object]:
    return {name: f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(f, f"{hookspecs.PROJECT}_spec")}


def _driver_members() -> dict[str, object]:
    """The public attributes and methods ``ResourceDriver`` itself defines."""
    return {name: value for name, value in vars(ResourceDriver).items()
            if not name.startswith("_")}


def test_every_hook_has_its_section_and_every_section_a_hook(
        chapters: dict[str, dict[str, str]]) -> None:
    documented = _named_sections(chapters["Hooks"])
    assert _hooks(), "hookspecs defines no hook"
    assert sorted(documented) == sorted(_hooks())


def test_each_hook_section_gives_arguments_result_and_who_wins(
        chapters: dict[str, dict[str, str]]) -> None:
    sections = _named_sections(chapters["Hooks"])
    for name, hook in _hooks().items():
        section = sections[name]
        for argument in inspect.signature(hook).parameters:
            assert f"- `{argument}`:" in section, (name, argument)
        assert "Returns " in section, name
        first_result = getattr(hook, f"{hookspecs.PROJECT}_spec")["firstresult"]
        rule = "**First result wins.**" if first_result else "**Every result is kept.**"
        assert rule in section, name
        groups = [group for group, required in GROUPS.items() if required == name]
        for group in groups:
            assert f"`{group}`" in section, (name, group)


def test_every_resource_driver_member_has_its_section_and_every_section_a_member(
        chapters: dict[str, dict[str, str]]) -> None:
    documented = _named_sections(chapters["The resource driver contract"])
    members = _driver_members()
    assert {"execute_lifecycle", "find_reference", "infrastructure_types"} <= set(members)
    assert sorted(documented) == sorted(members)
    abstract = ResourceDriver.__abstractmethods__
    for name, member in members.items():
        section = documented[name]
        signature = section.strip().splitlines()[0]
        assert signature.startswith(f"`{name}"), (name, signature)
        if callable(member):
            for parameter in inspect.signature(member).parameters:
                assert parameter in signature, (name, parameter)
            assert (", abstract." in signature) == (name in abstract), name


def test_every_field_of_the_requests_and_results_is_in_its_table(
        chapters: dict[str, dict[str, str]]) -> None:
    sections = _named_sections(chapters["Requests and results"])
    for cls in DATACLASSES:
        section = sections[cls.__name__]
        fields = [f.name for f in dataclasses.fields(cls)]
        assert _table_names(section) == fields, cls.__name__
        methods = [name for name, value in vars(cls).items()
                   if callable(value) and not name.startswith("_") and name not in fields]
        for method in methods:
            assert f"`{method}()`" in section, (cls.__name__, method)


def test_every_failure_code_and_nothing_else(chapters: dict[str, dict[str, str]]) -> None:
    section = _named_sections(chapters["Requests and results"])["FAILURE_CODES"]
    assert _table_names(section) == list(FAILURE_CODES)


def test_every_entry_point_group_and_nothing_else(chapters: dict[str, dict[str, str]]) -> None:
    table = chapters["Entry-point groups"][""]
    assert sorted(_table_names(table)) == sorted(GROUPS)


def test_writing_a_driver_goes_from_scaffold_to_image() -> None:
    text = WRITING_DOC.read_text()
    for needed in ("nfvd new-driver", "nfvd drivers check", "python -m build",
                   "twine check", ".pypirc", "__token__", "chmod 600", "twine upload",
                   "--repository testpypi", "examples/derived-image", "nfvd drivers list"):
        assert needed in text, needed
    assert "docs/plugins.md" in text


def _command_lines(text: str) -> list[list[str]]:
    """The words after ``nfvd`` in every code block and inline code span, up to the end of the
    shell command (a pipe, ``&&``, ``;``, a comment or a line continuation)."""
    code = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    code += re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    lines = []
    for block in code:
        for match in re.finditer(r"(?<![\w./-])nfvd[ \t]+([^\n]*)", block):
            words: list[str] = []
            for word in match.group(1).split():
                if word in ("|", "&&", ";", "\\") or word.startswith("#"):
                    break
                words.append(word)
            lines.append(words)
    return lines


def _check_command(words: list[str]) -> None:
    command: click.Command = main
    path = ["nfvd"]
    pending_value = False
    for word in words:
        if pending_value:
            pending_value = False
            continue
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            params = {opt: p for p in command.params for opt in p.opts}
            assert option in params or option == "--help", f"{' '.join(path)} has no {option}"
            param = params.get(option)
            pending_value = ("=" not in word and isinstance(param, click.Option)
                             and not param.is_flag and not param.count)
        elif isinstance(command, click.Group):
            assert word in command.commands, f"{' '.join(path)} has no command {word!r}"
            command = command.commands[word]
            path.append(word)
        # else: an argument of the command


@pytest.mark.parametrize("doc", [PLUGINS_DOC, WRITING_DOC,
                                 ROOT / "examples" / "derived-image" / "README.md"],
                         ids=lambda p: p.name)
def test_every_nfvd_command_shown_exists(doc: Path) -> None:
    for words in _command_lines(doc.read_text()):
        _check_command(words)
