"""Safe unpacking of resource packages (driverFiles): size limits, no paths outside the target."""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import dataclasses
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from framework.errors import BadRequest

#: Members (and packages) up to this size are never refused for their compression ratio: small
#: files of repeated bytes compress beyond any sane ratio and are harmless; size limits still apply.
RATIO_FLOOR = 1024 * 1024
_CHUNK = 64 * 1024
# Deflate honours the size asked of each read; bzip2 and LZMA expand a whole input block per
# read, so one small read could allocate gigabytes before any limit is checked.
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ENCRYPTED = 0x0001 | 0x0040  # traditional and strong encryption
_UTF8_NAME = 0x0800
_NAME_MAX = 255
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WHITESPACE = str.maketrans("", "", " \t\r\n\f\v")
# what zipfile raises for damaged or unsupported data (a ValueError is a bad offset or name)
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError,
            ValueError)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class PackageLimits:
    """Bounds on one package, checked on the zip headers and again on the bytes extracted."""

    max_compressed_bytes: int = 10 * 1024 * 1024
    max_uncompressed_bytes: int = 100 * 1024 * 1024
    max_files: int = 2000
    max_ratio: float = 100.0
    max_path_length: int = 1024


DEFAULT_LIMITS = PackageLimits()


@dataclasses.dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    is_dir: bool
    mode: int
    path: str


def _refuse(problem: str, name: str | None = None) -> BadRequest:
    shown = name if name is None or len(name) <= 200 else name[:200] + "..."
    where = "" if shown is None else f"member {shown!r}: "
    return BadRequest(f"driverFiles: {where}{problem}")


def decode_driver_files(text: str, limits: PackageLimits) -> bytes:
    """The zip bytes of standard base64 ``text``; ASCII whitespace is ignored.

    Raises BadRequest if the text is not valid base64 or decodes to more than
    ``limits.max_compressed_bytes``; the encoded length is checked before decoding.
    """
    if not isinstance(text, str):
        raise BadRequest("driverFiles: not valid base64")
    compact = text.translate(_WHITESPACE)
    if len(compact) > 4 * -(-limits.max_compressed_bytes // 3):
        raise _refuse(f"package is larger than {limits.max_compressed_bytes} bytes")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("driverFiles: not valid base64") from None
    if len(data) > limits.max_compressed_bytes:
        raise _refuse(f"package is larger than {limits.max_compressed_bytes} bytes")
    return data


def _name(info: zipfile.ZipInfo) -> str:
    name = info.orig_filename  # before zipfile cuts it at a NUL
    if not info.flag_bits & _UTF8_NAME:
        # zipfile read the bytes as cp437; most tools write UTF-8 without setting the flag
        raw = name.encode("cp437")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _refuse("name is not valid UTF-8",
                          raw.decode("utf-8", "backslashreplace")) from None
    return name


def _problem(info: zipfile.ZipInfo, name: str, parts: tuple[str, ...], is_dir: bool,
             limits: PackageLimits) -> str | None:
    """What is wrong with one member on its own, judged from its headers."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    checks = (
        (_CONTROL.search(name), "name contains control characters"),
        ("\\" in name, "name contains a backslash"),
        (name.startswith("/"), "absolute paths are not allowed"),
        (_DRIVE.match(name), "drive letters are not allowed"),
        (len(name.encode()) > limits.max_path_length,
         f"path too long (limit {limits.max_path_length} bytes)"),
        (".." in parts, "'..' components are not allowed"),
        (not parts, "empty name"),
        (any(len(part.encode()) > _NAME_MAX for part in parts),
         f"path too long (a component is over {_NAME_MAX} bytes)"),
        (info.flag_bits & _ENCRYPTED, "encrypted members are not allowed"),
        (kind == stat.S_IFLNK, "symlinks are not allowed"),
        (kind not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK),
         "device, fifo and socket entries are not allowed"),
        (not is_dir and info.compress_type not in _METHODS,
         f"unsupported compression method {info.compress_type}"),
        (not is_dir and info.file_size > limits.max_uncompressed_bytes,
         f"larger than {limits.max_uncompressed_bytes} bytes uncompressed"),
        (not is_dir and info.file_size > RATIO_FLOOR
         and info.file_size > limits.max_ratio * info.compress_size,
         f"compression ratio over {limits.max_ratio:g} (zip bomb)"),
    )
    return next((problem for failed, problem in checks if failed), None)


def _plan(archive: zipfile.ZipFile, limits: PackageLimits, compressed: int) -> list[_Member]:
    """Every member checked from the headers alone, before anything is written."""
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise _refuse(f"too many files ({len(infos)} members, limit {limits.max_files})")
    members: list[_Member] = []
    files: set[str] = set()
    dirs: set[str] = set()
    listed_dirs: set[str] = set()
    total = 0
    for info in infos:
        name = _name(info)
        parts = tuple(part for part in name.split("/") if part not in ("", "."))
        mode = info.external_attr >> 16
        is_dir = name.endswith("/") or stat.S_ISDIR(mode)
        problem = _problem(info, name, parts, is_dir, limits)
        path = "/".join(parts)
        parents = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
        # a name used twice, or both as a file and as a directory, cannot be extracted as sent
        if problem is None and (path in files or path in listed_dirs or any(
                parent in files for parent in parents) or (not is_dir and path in dirs)):
            problem = "duplicate name (another member has the same path)"
        total += 0 if is_dir else info.file_size
        if problem is None and total > limits.max_uncompressed_bytes:
            problem = f"package expands to more than {limits.max_uncompressed_bytes} bytes"
        if problem is not None:
            raise _refuse(problem, name)
        dirs.update([*parents, path] if is_dir else parents)
        (listed_dirs if is_dir else files).add(path)
        members.append(_Member(info, parts, is_dir, 0o700 if is_dir or mode & 0o111 else 0o600,
                               path))
    if total > RATIO_FLOOR and total > limits.max_ratio * compressed:
        raise _refuse(f"package compression ratio over {limits.max_ratio:g} (zip bomb)")
    return members


def _open_dirs(root: int, parts: tuple[str, ...]) -> int:
    """A descriptor of directory ``parts`` under ``root``, made 0700 one component at a time."""
    fd = os.dup(root)
    try:
        for part in parts:
            # made for an earlier member, or not: the open below refuses anything else
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            # O_NOFOLLOW | O_DIRECTORY: a symlink or a non-directory fails here, never followed
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
            os.fchmod(fd, 0o700)  # the umask must not make it unusable or wider
    except BaseException:
        os.close(fd)
        raise
    return fd


def _copy(archive: zipfile.ZipFile, member: _Member, room: int,
          sink: Callable[[bytes], object]) -> int:
    """Decompresses one file into ``sink``, refusing more than ``room`` bytes; its size."""
    info = member.info
    size = 0
    try:
        with archive.open(info) as stream:
            # read one byte past what is allowed: the count, not the header, stops a bomb,
            # and what is over the limit never reaches the sink
            while chunk := stream.read(min(_CHUNK, room - size + 1)):
                size += len(chunk)
                if size > room:
                    raise _refuse("holds more data than its header declares"
                                  if size > info.file_size else
                                  "package expands to more than the size limit", member.path)
                sink(chunk)
    except _CORRUPT:
        raise _refuse("corrupt or unsupported data", member.path) from None
    return size


def _write(archive: zipfile.ZipFile, member: _Member, parent: int, room: int) -> int:
    """Extracts one file into ``parent``, refusing more than ``room`` bytes; returns its size."""
    fd = os.open(member.parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent)
    with open(fd, "wb") as out:
        os.fchmod(fd, member.mode)  # exact mode whatever the umask; never setuid/setgid/sticky
        return _copy(archive, member, room, out.write)


def verify(data: bytes, limits: PackageLimits) -> int:
    """Checks zip ``data`` as :func:`unpack` would, writing nothing; the bytes it expands to.

    Every member is decompressed (and dropped), so a package that passes unpacks within
    ``limits``; anything else raises BadRequest naming the problem and the member.
    """
    with _open_zip(data, limits) as archive:
        total = 0
        for member in _plan(archive, limits, len(data)):
            if not member.is_dir:
                total += _copy(archive, member, min(member.info.file_size,
                                                    limits.max_uncompressed_bytes - total),
                               _discard)
        return total


def _discard(_chunk: bytes) -> None:
    pass


def _empty(root: int) -> None:
    for name in os.listdir(root):
        if stat.S_ISDIR(os.stat(name, dir_fd=root, follow_symlinks=False).st_mode):
            shutil.rmtree(name, dir_fd=root)
        else:
            os.unlink(name, dir_fd=root)


def _open_zip(data: bytes, limits: PackageLimits) -> zipfile.ZipFile:
    if len(data) > limits.max_compressed_bytes:
        raise _refuse(f"package is larger than {limits.max_compressed_bytes} bytes")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except UnicodeDecodeError as exc:  # a name flagged as UTF-8 that is not
        raise _refuse("name is not valid UTF-8",
                      bytes(exc.object).decode("utf-8", "backslashreplace")) from None
    except (*_CORRUPT, OSError):
        raise _refuse("not a zip file, or a corrupt one") from None


def unpack(data: bytes, target: Path, limits: PackageLimits) -> list[str]:
    """Extracts zip ``data`` into the empty directory ``target``; returns the files written.

    ``target`` is created 0700 if missing; directories are made 0700, files 0600, or 0700 when
    the zip marks them executable. Anything but a plain tree of files within ``limits`` raises
    BadRequest naming the problem and the member, with ``target`` left empty. Symlinks are never
    followed: one that appears in ``target`` meanwhile raises OSError. A ``target`` that is not
    empty raises ValueError.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(target, 0o700)
        os.chmod(target, 0o700)  # only when made here: the umask must not change it
    root = os.open(target, _DIR_FLAGS)
    try:
        if os.listdir(root):
            raise ValueError("the directory to unpack into is not empty")
        try:
            with _open_zip(data, limits) as archive:
                written: list[str] = []
                total = 0
                for member in _plan(archive, limits, len(data)):
                    parent = _open_dirs(root, member.parts[:None if member.is_dir else -1])
                    try:
                        if not member.is_dir:
                            room = min(member.info.file_size,
                                       limits.max_uncompressed_bytes - total)
                            total += _write(archive, member, parent, room)
                            written.append(member.path)
                    finally:
                        os.close(parent)
                return written
        except BaseException:
            _empty(root)  # what was written before the refusal must not stay
            raise
    finally:
        os.close(root)


class DriverDirectory:
    """A private temporary directory holding one request's unpacked driver files; removed on
    exit (or by .remove()).

    ``driver_files`` is the base64 text of the zip, or its bytes. ``path`` is a new 0700
    directory under ``base`` (the system's temporary directory if None); ``files`` lists the
    files written, relative to it. The constructor raises BadRequest for a refused package
    and leaves no directory behind.
    """

    def __init__(self, driver_files: str | bytes, limits: PackageLimits = DEFAULT_LIMITS,
                 base: Path | None = None) -> None:
        data = (driver_files if isinstance(driver_files, bytes)
                else decode_driver_files(driver_files, limits))
        # the pid in the name lets remove_stale() tell the directories of dead processes
        self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base))
        try:
            self.files = unpack(data, self.path, limits)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Deletes the directory and everything in it; does nothing the second time."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path)

    def __enter__(self) -> DriverDirectory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


#: Digests of the packages that passed :func:`verify` lately, with the limits they passed:
#: an orchestrator sends a resource's package with every request for it.
_VERIFIED: collections.OrderedDict[tuple[bytes, PackageLimits], None] = collections.OrderedDict()
_VERIFIED_MAX = 256
_VERIFIED_LOCK = threading.Lock()


def accept(driver_files: str, limits: PackageLimits) -> bytes:
    """The zip bytes of ``driverFiles``, checked whole before a request is accepted: every
    member decompressed and counted, nothing written (BadRequest naming the member). A
    package that passed under the same limits lately is known by its digest."""
    data = decode_driver_files(driver_files, limits)
    key = (hashlib.blake2b(data, digest_size=32).digest(), limits)
    with _VERIFIED_LOCK:
        known = key in _VERIFIED
        if known:
            _VERIFIED.move_to_end(key)
    if not known:
        verify(data, limits)
        with _VERIFIED_LOCK:
            _VERIFIED[key] = None
            if len(_VERIFIED) > _VERIFIED_MAX:
                _VERIFIED.popitem(last=False)
    return data


def stored_directory(data: bytes, base: Path | None = None) -> DriverDirectory:
    """A package :func:`accept` took earlier, unpacked for one call. It was checked then, and
    limits only loosen between versions, so its own size is the compressed limit now."""
    return DriverDirectory(data, dataclasses.replace(
        DEFAULT_LIMITS, max_compressed_bytes=max(len(data), 1)), base)


_PREFIX = "nfvd-driver-"


def remove_stale(base: Path | None = None) -> list[Path]:
    """Removes the driver directories under ``base`` left by processes that are gone (a
    process killed while a driver ran); returns them. Directories of live processes stay."""
    root = Path(base or tempfile.gettempdir())
    removed = []
    for entry in root.glob(_PREFIX + "*-*"):
        pid = entry.name[len(_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)) or not entry.is_dir() or entry.is_symlink():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to judge
    return True
