"""The plugin package scaffold: ``nfvd new-driver`` renders one from the shipped templates."""

from __future__ import annotations

import dataclasses
import datetime
import keyword
import re
import string
from importlib import resources
from pathlib import Path
from typing import NoReturn

import click

from framework.plugins.registry import COORDINATE_GROUP, HPA_GROUP, RESOURCE_GROUP

#: Entry-point names the core registers itself; a package of the same name would clash.
CORE_PLUGINS = frozenset({"fake"})
NAME_RULE = ("NAME must be 2 to 40 characters: lower-case letters, digits and single hyphens, "
             "starting with a letter and not ending with a hyphen (e.g. acme, sriov-nic)")
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

#: Templates every kind renders, by template file name: the path written in the package.
SHARED_TEMPLATES = {
    "LICENSE.tmpl": "LICENSE",
    "MANIFEST.in.tmpl": "MANIFEST.in",
    "README.md.tmpl": "README.md",
    "pyproject.toml.tmpl": "pyproject.toml",
    "setup.cfg.tmpl": "setup.cfg",
    "tox.ini.tmpl": "tox.ini",
    "__init__.py.tmpl": "$package/__init__.py",
}
#: Templates of ``templates/<kind>/``; ``about.md`` is the README's section on the plugin.
KIND_TEMPLATES = {
    "plugin.py.tmpl": "$package/$module.py",
    "test_plugin.py.tmpl": "tests/test_$package.py",
}
_ABOUT = "about.md.tmpl"


@dataclasses.dataclass(frozen=True)
class Kind:
    """What sets one plugin kind apart: names, entry-point group and package description."""

    group: str
    distribution_prefix: str
    module: str
    class_suffix: str
    summary: str
    keywords: str


KINDS = {
    "resource": Kind(RESOURCE_GROUP, "nfvd-driver-", "driver", "Driver",
                     "nfvd resource driver for $title infrastructure", "driver, lifecycle"),
    "hpa": Kind(HPA_GROUP, "onap-device-driver-", "discovery", "Discovery",
                "nfvd HPA discovery plugin for the $feature flavor feature", "onap, hpa, flavor"),
    "coordinate": Kind(COORDINATE_GROUP, "nfvd-driver-", "coordination", "Coordination",
                       "nfvd coordinate script $name for rolling updates",
                       "sol002, coordination, rolling update"),
}


def check_name(name: str) -> str:
    """``name`` if a plugin may be called so; otherwise ValueError saying which rule it breaks.

    The rule is :data:`NAME_RULE`; besides, a name may not be one of the core's plugins
    (:data:`CORE_PLUGINS`) nor, with ``-`` read as ``_``, a Python keyword.
    """
    if not (2 <= len(name) <= 40 and _NAME.fullmatch(name)):
        raise ValueError(NAME_RULE)
    if name in CORE_PLUGINS:
        raise ValueError(f"{name!r} is the name of a plugin of the nfvd core: choose another")
    if keyword.iskeyword(name.replace("-", "_")):
        raise ValueError(f"{name!r} is a Python keyword: choose another")
    return name


@dataclasses.dataclass(frozen=True)
class Scaffold:
    """The package of one plugin: ``kind`` (a key of :data:`KINDS`) and a checked ``name``."""

    kind: str
    name: str

    @property
    def distribution(self) -> str:
        return KINDS[self.kind].distribution_prefix + self.name

    @property
    def package(self) -> str:
        return self.distribution.replace("-", "_")

    def placeholders(self) -> dict[str, str]:
        """The values of the templates' ``$`` placeholders."""
        kind = KINDS[self.kind]
        title = "".join(part.capitalize() for part in self.name.split("-"))
        feature = title[0].lower() + title[1:]
        values = {
            "name": self.name,
            "distribution": self.distribution,
            "package": self.package,
            "module": kind.module,
            "class_name": title + kind.class_suffix,
            "group": kind.group,
            "title": title,
            "feature": feature,
            "extra_spec": "hw:" + self.name.replace("-", "_"),
            "attribute": feature + "Value",
            "keywords": f"{kind.keywords}, {self.name}",
            "year": str(datetime.date.today().year),
        }
        values["summary"] = string.Template(kind.summary).substitute(values)
        values["about"] = string.Template(_template(self.kind, _ABOUT)).substitute(values)
        return values

    def render(self) -> dict[str, str]:
        """Every file of the package: its path relative to the package directory, its text."""
        values = self.placeholders()
        sources = [(path, _template(None, name)) for name, path in SHARED_TEMPLATES.items()]
        sources += [(path, _template(self.kind, name)) for name, path in KIND_TEMPLATES.items()]
        files = {string.Template(path).substitute(values): string.Template(text).substitute(values)
                 for path, text in sources}
        files[f"{self.package}/py.typed"] = ""
        return dict(sorted(files.items()))

    def write(self, directory: Path) -> Path:
        """Writes the package to ``directory/<distribution>`` and returns that path.

        Raises FileExistsError, having written nothing, when the path exists already.
        """
        files = self.render()
        target = directory / self.distribution
        directory.mkdir(parents=True, exist_ok=True)
        target.mkdir()
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return target


def _template(kind: str | None, name: str) -> str:
    folder = resources.files("framework") / "templates"
    if kind is not None:
        folder = folder / kind
    return (folder / name).read_text(encoding="utf-8")


def _fail(message: str) -> NoReturn:
    click.echo(f"nfvd: error: {message}", err=True)
    raise SystemExit(1)


def _name_option(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("new-driver")
@click.option("--kind", type=click.Choice(list(KINDS)), required=True,
              help="resource: a resource driver; hpa: an HPA discovery plugin; "
                   "coordinate: a coordinate script of rolling updates.")
@click.option("--name", required=True, callback=_name_option, metavar="NAME",
              help="The plugin's entry-point name, e.g. acme or sriov-nic.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=".", show_default=True, metavar="DIR",
              help="Where to create the package's directory.")
def new_driver(kind: str, name: str, directory: Path) -> None:
    """Create a plugin package: resource driver, HPA plugin or coordinate script.

    The package is written to DIR/nfvd-driver-NAME (DIR/onap-device-driver-NAME for
    --kind hpa), and nothing is written when that path exists. As written, it passes
    its own tests, ruff and mypy --strict, builds, and passes twine check.
    """
    scaffold = Scaffold(kind, name)
    try:
        target = scaffold.write(directory)
    except FileExistsError:
        _fail(f"{directory / scaffold.distribution} exists; nothing written")
    except OSError as exc:
        _fail(f"cannot write {directory / scaffold.distribution}: {exc.strerror or exc}")
    group = KINDS[kind].group
    click.echo(f"wrote {target}: {scaffold.distribution}, plugin {name!r} in {group}")
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        click.echo(f"  {path.relative_to(target)}")
    click.echo("\nnext steps:\n"
               f"  cd {target}\n"
               "  pip install -e '.[test]'\n"
               "  pytest                        # its own tests\n"
               "  pip install build twine\n"
               "  python -m build               # dist/*.tar.gz and dist/*.whl\n"
               "  twine check --strict dist/*\n"
               f"  pip install dist/*.whl && nfvd drivers list   # shows {group} {name}")
