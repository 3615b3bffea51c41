"""nfvd new-driver: each kind of package passes its own tests and ruff, builds, passes twine."""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
import tarfile
import zipfile
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import framework
from framework.scaffold import (
    KIND_TEMPLATES,
    KINDS,
    NAME_RULE,
    SHARED_TEMPLATES,
    Scaffold,
    check_name,
    new_driver,
)

#: One package per kind; the hyphens exercise the conversion to package and class names.
NAMES = {"resource": "acme", "hpa": "sriov-nic", "coordinate": "drain-first"}
#: kind: (distribution, package, plugin module, entry-point group, entry point)
EXPECTED = {
    "resource": ("nfvd-driver-acme", "nfvd_driver_acme", "driver", "nfvd.resource_drivers",
                 "acme = nfvd_driver_acme:AcmeDriver"),
    "hpa": ("onap-device-driver-sriov-nic", "onap_device_driver_sriov_nic", "discovery",
            "nfvd.hpa_discovery", "sriov-nic = onap_device_driver_sriov_nic:SriovNicDiscovery"),
    "coordinate": ("nfvd-driver-drain-first", "nfvd_driver_drain_first", "coordination",
                   "nfvd.coordinate_scripts",
                   "drain-first = nfvd_driver_drain_first:DrainFirstCoordination"),
}
LONGEST_NAME = "abcdefghij-abcdefghij-abcdefghij-abcdefg"
# ruff and mypy are installed in tox's lint and type environments, not in the one that runs
# the tests
needs_ruff = pytest.mark.skipif(importlib.util.find_spec("ruff") is None,
                                reason="ruff is not installed in this environment")
needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed in this environment")


def generate(kind: str, name: str, directory: Path) -> Result:
    return CliRunner().invoke(new_driver, ["--kind", kind, "--name", name,
                                           "--dir", str(directory)])


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=120)


def ruff_check(package: Path) -> None:
    # from the package's directory, so that its own pyproject.toml configures ruff
    result = run("ruff", "check", "--no-cache", ".", cwd=package)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module", params=list(NAMES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def package(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp(f"new-{kind}")
    result = generate(kind, NAMES[kind], root)
    assert result.exit_code == 0, result.output
    return root / EXPECTED[kind][0]


@pytest.fixture(scope="module")
def dist(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the installed setuptools builds it, with no network
    result = run("build", "--no-isolation", "--wheel", "--sdist", "-o", str(out), str(package),
                 cwd=out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_writes_the_package_layout(kind: str, package: Path) -> None:
    _, name, module, _, _ = EXPECTED[kind]
    files = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert files == sorted([
        "LICENSE", "MANIFEST.in", "README.md", "pyproject.toml", "setup.cfg", "tox.ini",
        f"{name}/__init__.py", f"{name}/py.typed", f"{name}/{module}.py",
        f"tests/test_{name}.py"])
    for path in package.rglob("*"):
        if path.is_file():
            assert "$" not in path.read_text(), f"{path.name} holds a placeholder"


def test_its_own_tests_pass(package: Path) -> None:
    # PYTHONPATH: the package imports from its directory, uninstalled
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(package), os.environ.get("PYTHONPATH")]))}
    result = run("pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(package),
                 "-c", str(package / "pyproject.toml"), str(package / "tests"),
                 cwd=package, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


@needs_ruff
def test_ruff_accepts_it(package: Path) -> None:
    ruff_check(package)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for every package: the core is analysed once."""
    return tmp_path_factory.mktemp("mypy-cache")


@needs_mypy
def test_mypy_strict_accepts_it(package: Path, mypy_cache: Path) -> None:
    env = dict(os.environ)
    source = Path(framework.__file__).resolve().parent.parent
    if (source / "setup.cfg").is_file():
        # an editable install, which mypy cannot follow: read the core from its checkout
        env["MYPYPATH"] = str(source)
    # the package's pyproject.toml says what to check; the core is checked elsewhere
    result = run("mypy", "--strict", "--follow-imports=silent", "--cache-dir", str(mypy_cache),
                 cwd=package, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_builds_and_twine_accepts_both(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert sorted(Path(f).suffix for f in files) == [".gz", ".whl"]
    result = run("twine", "check", "--strict", *files, cwd=dist)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_the_wheel_registers_the_plugin(kind: str, dist: Path) -> None:
    distribution, name, module, group, entry_point = EXPECTED[kind]
    wheel = zipfile.ZipFile(next(dist.glob("*.whl")))
    info = f"{name}-0.1.0.dist-info"
    names = set(wheel.namelist())
    assert {f"{name}/__init__.py", f"{name}/{module}.py", f"{name}/py.typed",
            f"{info}/licenses/LICENSE"} <= names
    assert not [n for n in names if n.startswith("tests/")]
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert f"Name: {distribution}\n" in metadata
    assert "Requires-Dist: nfv-driver-framework>=0.1\n" in metadata
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(wheel.read(f"{info}/entry_points.txt").decode())
    ep_name, _, target = entry_point.partition(" = ")
    assert dict(parser[group]) == {ep_name: target}
    sdist = tarfile.open(next(dist.glob("*.tar.gz")))
    members = {n.partition("/")[2] for n in sdist.getnames()}
    assert {f"tests/test_{name}.py", "tox.ini", "LICENSE", "README.md"} <= members


def test_hpa_distribution_is_named_like_onap_device_drivers() -> None:
    scaffold = Scaffold("hpa", "sriov-nic")
    assert (scaffold.distribution, scaffold.package) == (
        "onap-device-driver-sriov-nic", "onap_device_driver_sriov_nic")


def test_prints_what_it_wrote_and_the_next_steps(tmp_path: Path) -> None:
    result = generate("coordinate", "ab", tmp_path)
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "nfvd-driver-ab") in result.output
    assert "nfvd_driver_ab/coordination.py" in result.output
    for step in ("pytest", "python -m build", "twine check"):
        assert step in result.output


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    assert generate("resource", "acme", tmp_path).exit_code == 0
    readme = tmp_path / "nfvd-driver-acme" / "README.md"
    readme.write_text("edited")
    result = generate("resource", "acme", tmp_path)
    assert result.exit_code == 1
    assert "exists" in result.output
    assert readme.read_text() == "edited"
    (tmp_path / "nfvd-driver-empty").mkdir()
    assert generate("coordinate", "empty", tmp_path).exit_code == 1
    assert not list((tmp_path / "nfvd-driver-empty").iterdir())


@pytest.mark.parametrize("name", [
    "a", "x" * 41, "Acme", "1acme", "-acme", "acme-", "ac--me", "ac_me", "ac me", "acmé", ""])
def test_names_that_break_the_rule_exit_2(tmp_path: Path, name: str) -> None:
    result = generate("resource", name, tmp_path)
    assert result.exit_code == 2
    assert NAME_RULE in " ".join(result.output.split())
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("name", "why"), [
    ("fake", "plugin of the nfvd core"), ("class", "Python keyword"), ("if", "Python keyword")])
def test_names_of_core_plugins_and_keywords_exit_2(tmp_path: Path, name: str, why: str) -> None:
    result = generate("hpa", name, tmp_path)
    assert result.exit_code == 2
    assert why in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["ab", "sriov-nic", "a1-b2-c3", LONGEST_NAME])
def test_names_within_the_rule_are_accepted(name: str) -> None:
    assert check_name(name) == name


@needs_ruff
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_longest_name_still_fits_the_line_length(kind: str, tmp_path: Path) -> None:
    assert len(LONGEST_NAME) == 40
    assert generate(kind, LONGEST_NAME, tmp_path).exit_code == 0
    ruff_check(next(tmp_path.iterdir()))


def test_every_template_is_used_and_shipped() -> None:
    root = resources.files("framework") / "templates"
    found = {entry.name for entry in root.iterdir() if entry.is_file()}
    for kind in KINDS:
        found |= {f"{kind}/{entry.name}" for entry in (root / kind).iterdir()}
    expected = set(SHARED_TEMPLATES) | {f"{kind}/{name}" for kind in KINDS
                                        for name in [*KIND_TEMPLATES, "about.md.tmpl"]}
    assert found == expected


def test_python_m_framework_new_driver(tmp_path: Path) -> None:
    # needs the command registered in cli.py
    result = run("framework", "new-driver", "--kind", "coordinate", "--name", "demo",
                 "--dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "nfvd-driver-demo" / "nfvd_driver_demo" / "coordination.py").is_file()
