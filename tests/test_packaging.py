"""The wheel and sdist: what ships, what installs, what twine accepts."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from framework import __version__

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(ROOT)], check=True, capture_output=True, cwd=out)
    return out


def test_wheel_ships_specs_and_types(dist: Path) -> None:
    wheel = next(dist.glob("nfv_driver_framework-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = sorted(p.name for p in (ROOT / "specs").glob("*.yaml"))
    assert specs, "specs/ holds the OpenAPI documents"
    for spec in specs:
        assert f"framework/specs/{spec}" in names
    for schema in (ROOT / "specs" / "schemas").glob("*.json"):
        assert f"framework/specs/schemas/{schema.name}" in names
    assert "framework/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "specs/"))]
    info = f"nfv_driver_framework-{__version__}.dist-info"
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "nfvd = framework.cli:main" in entry_points
    assert "fake = framework.plugins.fake:FakeResourceDriver" in entry_points


def test_wheel_ships_every_module(dist: Path) -> None:
    wheel = next(dist.glob("nfv_driver_framework-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "framework").rglob("*.py"))
    assert sources
    assert [s for s in sources if s not in names] == []


def test_sdist_holds_the_sources(dist: Path) -> None:
    sdist = next(dist.glob("nfv_driver_framework-*.tar.gz"))
    names = tarfile.open(sdist).getnames()
    assert any(n.endswith("/specs/system.yaml") for n in names)
    assert any(n.endswith("/README.md") for n in names)
    assert any(n.endswith("/LICENSE") for n in names)


def test_twine_accepts_both(dist: Path) -> None:
    files = [str(p) for p in dist.iterdir() if p.suffix in (".whl", ".gz")]
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2
