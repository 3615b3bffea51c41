"""The virtualenv of a peer measured beside nfvd, created on first use and kept in a cache.

A peer (ONAP's onaphpadriver, IBM's Ignition) is installed from PyPI into a virtualenv of its
own, never into nfvd's: they pin versions of libraries nfvd also uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Where peers' virtualenvs are kept between runs.
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nfvd-peers"


def peer_python(venv: Path, requirements: list[str], probe: str) -> Path:
    """The python of ``venv`` holding ``requirements``, made when the import ``probe``
    (a module name) fails there."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", f"import {probe}"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"installing {' '.join(requirements)} into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *requirements], check=True)
    subprocess.run(check, check=True)
    return python
