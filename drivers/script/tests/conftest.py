"""The script driver's fixtures: a driver with a short kill grace, and a driver directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfvd_driver_script import ScriptDriver

# Run by the scripts as "$PY" dump.py OUT: records what the script saw, since the run
# directory is gone by the time the driver returns.
DUMP_PY = """
import json, os, stat, sys
env = dict(os.environ)
files = {}
for name, path in env.items():
    if name == "NFVD_REQUEST_FILE" or name.startswith("NFVD_KEYFILE_"):
        for p in (path, path + ".pub"):
            if os.path.exists(p):
                files[p] = {"mode": stat.S_IMODE(os.stat(p).st_mode), "text": open(p).read()}
seen = {"env": env, "cwd": os.getcwd(), "files": files,
        "tmpdir": os.path.isdir(env["TMPDIR"]) and os.access(env["TMPDIR"], os.W_OK)}
json.dump(seen, open(sys.argv[1], "w"))
"""


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> ScriptDriver:
    monkeypatch.setenv("NFVD_PLUGIN_SCRIPT_KILL_GRACE", "0.5")
    return ScriptDriver()


@pytest.fixture
def driver_dir(tmp_path: Path) -> Path:
    (tmp_path / "driver" / "scripts").mkdir(parents=True)
    (tmp_path / "dump.py").write_text(DUMP_PY)
    return tmp_path / "driver"
