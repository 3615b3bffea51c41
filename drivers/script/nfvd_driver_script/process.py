"""run(): one script as a process group, with its output drained, a deadline and a cancel check."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

#: How much of each of stdout and stderr is kept (the end of it).
TAIL_BYTES = 64 * 1024

#: How often ``cancelled()`` is asked while the script runs.
POLL_SECONDS = 0.1

# Bounds for waits that should end at once but depend on the kernel or on processes that
# left the group (setsid) while holding the output pipes.
_REAP_SECONDS = 10.0
_DRAIN_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Completed:
    """How a run ended.

    ``stopped`` is ``"timeout"`` or ``"cancelled"`` when the driver stopped the script,
    else ``None`` and ``returncode`` is the script's (negative: killed by that signal).
    ``stdout`` and ``stderr`` are the last :data:`TAIL_BYTES` of each, decoded as UTF-8
    (undecodable bytes replaced), starting at a line boundary when cut.
    """

    returncode: int | None
    stopped: str | None
    stdout: str
    stderr: str
    duration: float


class _Tail(threading.Thread):
    """Reads a pipe to its end, keeping only its last :data:`TAIL_BYTES`."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._lock = threading.Lock()
        self._data = bytearray()
        self._cut = False

    def run(self) -> None:
        with self._stream:
            fd = self._stream.fileno()
            while chunk := os.read(fd, TAIL_BYTES):
                with self._lock:
                    self._data += chunk
                    if len(self._data) > TAIL_BYTES:
                        del self._data[:len(self._data) - TAIL_BYTES]
                        self._cut = True

    def text(self) -> str:
        with self._lock:
            data = bytes(self._data)
            cut = self._cut
        if cut and b"\n" in data:
            # The first line is a fragment: drop it rather than show half a line (or half
            # a secret that the masking could then no longer recognise).
            data = data[data.index(b"\n") + 1:]
        return data.decode("utf-8", errors="replace")


def run(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout: float,
        grace: float, cancelled: Callable[[], bool]) -> Completed:
    """Run ``argv`` in a new session (its own process group) and wait for it.

    stdin is ``/dev/null``; stdout and stderr are drained by threads, so any amount of
    output is fine. The run ends when the script exits, when ``timeout`` seconds have
    passed, or when ``cancelled()`` (asked every :data:`POLL_SECONDS`) turns true; the
    exit is noticed at once. In the last two cases the whole group gets SIGTERM, and
    SIGKILL if any of it is still alive ``grace`` seconds later. Processes of the group
    still alive when the script exits are stopped the same way.
    """
    start = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - a fixed shell and a script path checked by the caller
        list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - PIPE above
    tails = (_Tail(proc.stdout), _Tail(proc.stderr))
    for tail in tails:
        tail.start()
    # A thread blocked in wait() learns of the exit at once; polling would add latency.
    exited = threading.Event()
    threading.Thread(target=_wait_and_set, args=(proc, exited), daemon=True).start()

    stopped: str | None = None
    deadline = start + timeout
    try:
        while not exited.wait(max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))):
            if cancelled():
                stopped = "cancelled"
                break
            if time.monotonic() >= deadline:
                stopped = "timeout"
                break
    except BaseException:
        _stop_group(proc.pid, exited, grace)
        raise
    duration = time.monotonic() - start
    if stopped is not None or _group_alive(proc.pid):
        _stop_group(proc.pid, exited, grace)
    drain_deadline = time.monotonic() + _DRAIN_SECONDS
    for tail in tails:
        tail.join(max(0.0, drain_deadline - time.monotonic()))
    return Completed(returncode=proc.returncode, stopped=stopped, stdout=tails[0].text(),
                     stderr=tails[1].text(), duration=duration)


def _wait_and_set(proc: subprocess.Popen[bytes], exited: threading.Event) -> None:
    proc.wait()
    exited.set()


def _stop_group(pgid: int, exited: threading.Event, grace: float) -> None:
    """SIGTERM the group, SIGKILL what is left of it after ``grace``; return once it is
    gone and its leader reaped (or after :data:`_REAP_SECONDS` if the kernel lags)."""
    _signal_group(pgid, signal.SIGTERM)
    _wait_for_group(pgid, time.monotonic() + grace)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
        _wait_for_group(pgid, time.monotonic() + _REAP_SECONDS)
    exited.wait(_REAP_SECONDS)


def _wait_for_group(pgid: int, deadline: float) -> None:
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # PermissionError: only zombies are left, on some systems.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies do not count).

    Zombies matter because an orphan's zombie lingers when PID 1 does not reap (as in
    many containers), and ``killpg(pgid, 0)`` alone would take it for a live process.
    """
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as file:
                stat = file.read()
        except OSError:
            continue
        # After the command name in parentheses: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
