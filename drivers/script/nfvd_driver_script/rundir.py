"""RunDir: the private directory that holds one script run's files."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from types import TracebackType


class RunDir:
    """A fresh directory readable only by nfvd's user, removed when the ``with`` block ends.

    It holds the request file, the ``keys/`` directory, the script's ``TMPDIR`` and the
    paths where the script may write its outputs, topology, failure and resource id
    (those four are not created here). Removal is unconditional: whatever the script
    left in it goes too. It is made inside ``base`` (the driver directory nfvd unpacked
    for this call) when given: nfvd removes that directory after the call, and at its next
    start if it was killed meanwhile, so key files never outlive a crash.
    """

    def __init__(self, base: str | None = None) -> None:
        self.path = tempfile.mkdtemp(prefix=".nfvd-run-", dir=base)
        self.tmp = os.path.join(self.path, "tmp")
        self.keys = os.path.join(self.path, "keys")
        os.mkdir(self.tmp, 0o700)
        os.mkdir(self.keys, 0o700)
        self.request_file = os.path.join(self.path, "request.json")
        self.outputs_file = os.path.join(self.path, "outputs.json")
        self.topology_file = os.path.join(self.path, "topology.json")
        self.failure_file = os.path.join(self.path, "failure.json")
        self.resource_id_file = os.path.join(self.path, "resource-id")

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def write_private(self, path: str, text: str) -> None:
        """Write ``text`` to ``path`` (replacing it) with mode 0600, whatever the umask."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(text)

    def remove(self) -> None:
        """Delete the directory and everything in it; missing or stubborn entries are skipped."""
        # A script may have left directories without write or search permission in its
        # TMPDIR, which would stop rmtree for a user other than root: open them up first.
        for dirpath, dirnames, _files in os.walk(self.path):
            for name in dirnames:
                full = os.path.join(dirpath, name)
                if not os.path.islink(full):
                    with contextlib.suppress(OSError):
                        os.chmod(full, 0o700)
        shutil.rmtree(self.path, ignore_errors=True)
