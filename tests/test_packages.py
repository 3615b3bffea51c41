"""Resource packages (driverFiles): real zips unpacked on the real filesystem, attacks refused."""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import io
import os
import stat
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework import packages
from framework.errors import BadRequest
from framework.packages import (
    RATIO_FLOOR,
    DriverDirectory,
    PackageLimits,
    decode_driver_files,
    unpack,
)

MB = 1024 * 1024
REG = stat.S_IFREG


@dataclasses.dataclass
class M:
    """One member to write: ``mode`` is a full st_mode (type and permissions) or None."""

    name: str
    data: bytes = b""
    mode: int | None = None
    method: int = zipfile.ZIP_DEFLATED


def make_zip(*members: M) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates some tests need
        with zipfile.ZipFile(buf, "w") as archive:
            for member in members:
                info = zipfile.ZipInfo(member.name)
                info.compress_type = member.method
                if member.mode is not None:
                    info.external_attr = member.mode << 16
                archive.writestr(info, member.data)
    return buf.getvalue()


def patch_headers(data: bytes, name: bytes, *, flags: int = 0,
                  file_size: int | None = None) -> bytes:
    """Sets ``flags`` in both headers of member ``name``, and ``file_size`` as its size."""
    out = bytearray(data)
    # (signature, offset of the flags, of the uncompressed size, of the name)
    for signature, flags_at, size_at, name_at in ((b"PK\x03\x04", 6, 22, 30),
                                                  (b"PK\x01\x02", 8, 24, 46)):
        at = out.find(signature)
        while at >= 0:
            if out[at + name_at:at + name_at + len(name)] == name:
                old = struct.unpack_from("<H", out, at + flags_at)[0]
                struct.pack_into("<H", out, at + flags_at, old | flags)
                if file_size is not None:
                    struct.pack_into("<I", out, at + size_at, file_size)
            at = out.find(signature, at + 4)
    return bytes(out)


def tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` (links not followed) with its size, to see what changed."""
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top, name)
            found[str(path.relative_to(root))] = path.lstat().st_size
    return found


def usage(root: Path) -> int:
    return sum(path.lstat().st_size for path in root.rglob("*") if path.is_file())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "pkg" / "target"
    path.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return path


def watch_reads(monkeypatch: pytest.MonkeyPatch, root: Path,
                before_read: Callable[[], None] | None = None) -> list[int]:
    """Records the bytes under ``root`` each time a member's data is read."""
    seen: list[int] = []
    real_open = zipfile.ZipFile.open

    def open_member(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> Any:
        stream = real_open(self, *args, **kwargs)
        real_read = stream.read

        def read(n: int = -1) -> bytes:
            seen.append(usage(root))
            if before_read is not None:
                before_read()
            return real_read(n)

        stream.read = read
        return stream

    monkeypatch.setattr(zipfile.ZipFile, "open", open_member)
    return seen


# -- a valid package ---------------------------------------------------------------------------

SCRIPT = b"#!/bin/sh\necho driver says $1\n"


def valid_package() -> bytes:
    data = make_zip(
        M("driver/", mode=stat.S_IFDIR | 0o755),
        M("driver/bin/run.sh", SCRIPT, mode=REG | 0o755),
        M("driver/bin/setuid", b"#!/bin/sh\n", mode=REG | 0o4755 | 0o2000 | 0o1000),
        M("driver/conf/app.yaml", b"a: 1\n", mode=REG | 0o644),
        M("driver/conf/deep/nested/plain.txt", b"x" * 100_000),
        M("driver/./empty.txt", b"", method=zipfile.ZIP_STORED),
        M("driver/données.txt", "é".encode()),
        M("driver/XX.txt", b"unflagged"),
    )
    # the name written as UTF-8 without the UTF-8 flag, as Info-ZIP does
    return data.replace(b"driver/XX.txt", "driver/é.txt".encode())


EXPECTED = {
    "driver/bin/run.sh": (SCRIPT, 0o700),
    "driver/bin/setuid": (b"#!/bin/sh\n", 0o700),
    "driver/conf/app.yaml": (b"a: 1\n", 0o600),
    "driver/conf/deep/nested/plain.txt": (b"x" * 100_000, 0o600),
    "driver/empty.txt": (b"", 0o600),
    "driver/données.txt": ("é".encode(), 0o600),
    "driver/é.txt": (b"unflagged", 0o600),
}


def test_valid_package_written_with_modes_and_content(tmp_path: Path) -> None:
    target = tmp_path / "new"
    files = unpack(valid_package(), target, PackageLimits())
    assert files == list(EXPECTED)
    assert mode_of(target) == 0o700
    for name, (content, mode) in EXPECTED.items():
        assert (target / name).read_bytes() == content, name
        assert mode_of(target / name) == mode, name
    for folder in ("driver", "driver/bin", "driver/conf", "driver/conf/deep/nested"):
        assert (target / folder).is_dir() and mode_of(target / folder) == 0o700, folder
    assert sorted(tree(target)) == sorted([*EXPECTED, "driver", "driver/bin", "driver/conf",
                                           "driver/conf/deep", "driver/conf/deep/nested"])
    ran = subprocess.run([str(target / "driver/bin/run.sh"), "hello"], capture_output=True,
                         check=True)
    assert ran.stdout == b"driver says hello\n"


def test_modes_are_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # would leave directories without write permission for the owner
    try:
        unpack(valid_package(), tmp_path / "t", PackageLimits())
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "t") == 0o700
    assert mode_of(tmp_path / "t" / "driver/conf/deep") == 0o700
    assert mode_of(tmp_path / "t" / "driver/bin/run.sh") == 0o700
    assert mode_of(tmp_path / "t" / "driver/conf/app.yaml") == 0o600


# -- refusals ----------------------------------------------------------------------------------

Build = Callable[[Path], bytes]


def case(build: Build, problem: str, member: str | None, name: str, **limits: Any) -> Any:
    return pytest.param(build, limits, problem, member, id=name)


def corrupt(_: Path) -> bytes:
    data = make_zip(M("good/first.txt", b"1"), M("bad.txt", b"A" * 100,
                                                     method=zipfile.ZIP_STORED))
    return data.replace(b"A" * 100, b"B" + b"A" * 99)


REFUSED = [
    case(lambda _: make_zip(M("ok.txt", b"1"), M("../evil", b"x")),
         "'..' components", "../evil", "dotdot"),
    case(lambda _: make_zip(M("a/../../evil", b"x")), "'..' components", "a/../../evil",
         "dotdot-nested"),
    case(lambda _: make_zip(M("a/..", b"x")), "'..' components", "a/..", "dotdot-last"),
    case(lambda tmp: make_zip(M(f"{tmp}/abs/evil", b"x")), "absolute paths", None, "absolute"),
    case(lambda _: make_zip(M("/evil", b"x")), "absolute paths", "/evil", "absolute-root"),
    case(lambda _: make_zip(M("..\\evil", b"x")), "backslash", "..\\evil", "backslash-dotdot"),
    case(lambda _: make_zip(M("dir\\file", b"x")), "backslash", "dir\\file", "backslash"),
    case(lambda _: make_zip(M("C:/evil", b"x")), "drive letters", "C:/evil", "drive"),
    case(lambda _: make_zip(M("c:evil", b"x")), "drive letters", "c:evil", "drive-relative"),
    case(lambda _: make_zip(M("ok.txt", b"1"), M("link", b"../../outside",
                                                  mode=stat.S_IFLNK | 0o777),
                            M("link/evil", b"x")),
         "symlinks are not allowed", "link", "symlink-then-file-through-it"),
    case(lambda tmp: make_zip(M("abslink", str(tmp / "outside").encode(),
                                mode=stat.S_IFLNK | 0o777), M("abslink/evil", b"x")),
         "symlinks are not allowed", "abslink", "symlink-absolute"),
    case(lambda _: make_zip(M("tty", mode=stat.S_IFCHR | 0o666)), "device, fifo and socket",
         "tty", "char-device"),
    case(lambda _: make_zip(M("sda", mode=stat.S_IFBLK | 0o600)), "device, fifo and socket",
         "sda", "block-device"),
    case(lambda _: make_zip(M("pipe", mode=stat.S_IFIFO | 0o600)), "device, fifo and socket",
         "pipe", "fifo"),
    case(lambda _: make_zip(M("sock", mode=stat.S_IFSOCK | 0o600)), "device, fifo and socket",
         "sock", "socket"),
    case(lambda _: make_zip(M("a.txt", b"1"), M("a.txt", b"2")), "duplicate name", "a.txt",
         "duplicate-file"),
    case(lambda _: make_zip(M("a/b", b"1"), M("a/./b", b"2")), "duplicate name", "a/./b",
         "duplicate-after-normalising"),
    case(lambda _: make_zip(M("a", b"1"), M("a/")), "duplicate name", "a/", "file-then-dir"),
    case(lambda _: make_zip(M("a/"), M("a", b"1")), "duplicate name", "a", "dir-then-file"),
    case(lambda _: make_zip(M("a", b"1"), M("a/b", b"2")), "duplicate name", "a/b",
         "file-then-child"),
    case(lambda _: make_zip(M("a/b", b"1"), M("a", b"2")), "duplicate name", "a",
         "child-then-file"),
    case(lambda _: make_zip(M("a/"), M("a/")), "duplicate name", "a/", "duplicate-dir"),
    case(lambda _: make_zip(*(M(f"f{i}", b"x") for i in range(4))), "too many files (4 members,"
         " limit 3)", None, "too-many-files", max_files=3),
    case(lambda _: make_zip(M("big.bin", os.urandom(2000), method=zipfile.ZIP_STORED)),
         "larger than 1000 bytes uncompressed", "big.bin", "member-over-limit",
         max_uncompressed_bytes=1000),
    case(lambda _: make_zip(*(M(f"part{i}", os.urandom(600), method=zipfile.ZIP_STORED)
                              for i in range(3))),
         "package expands to more than 1500 bytes", "part2", "total-over-limit",
         max_uncompressed_bytes=1500),
    case(lambda _: make_zip(M("zeros.bin", bytes(2 * MB))), "compression ratio over 100",
         "zeros.bin", "member-ratio"),
    case(lambda _: make_zip(*(M(f"z{i}", bytes(RATIO_FLOOR // 2)) for i in range(4))),
         "package compression ratio over 100", None, "overall-ratio"),
    case(lambda _: make_zip(M("d/" + "x" * 60, b"1")), "path too long (limit 50 bytes)",
         "d/" + "x" * 60, "path-too-long", max_path_length=50),
    case(lambda _: make_zip(M("d/" + "x" * 300, b"1")), "path too long", None,
         "component-too-long"),
    case(lambda _: make_zip(M("a\x01b", b"1")), "control characters", "a\x01b", "control"),
    case(lambda _: make_zip(M("evilX.txt", b"1")).replace(b"evilX.txt", b"evil\0.txt"),
         "control characters", "evil\0.txt", "nul-in-name"),
    case(lambda _: make_zip(M("Xbad.txt", b"1")).replace(b"Xbad.txt", b"\xffbad.txt"),
         "name is not valid UTF-8", "\\xffbad.txt", "not-utf8"),
    case(lambda _: make_zip(M("é.txt", b"1")).replace("é".encode(), b"\xc3\x28"),
         "name is not valid UTF-8", "\\xc3(.txt", "not-utf8-flagged"),
    case(lambda _: make_zip(M("./", b"")), "empty name", "./", "empty-name"),
    case(lambda _: patch_headers(make_zip(M("secret.txt", b"1")), b"secret.txt", flags=0x1),
         "encrypted members are not allowed", "secret.txt", "encrypted"),
    case(lambda _: make_zip(M("b.bz2", b"1" * 100, method=zipfile.ZIP_BZIP2)),
         "unsupported compression method 12", "b.bz2", "bzip2"),
    case(lambda _: b"this is not a zip", "not a zip file", None, "not-a-zip"),
    case(lambda _: b"", "not a zip file", None, "empty"),
    case(lambda _: make_zip(M("a.txt", os.urandom(500)))[:300], "not a zip file", None,
         "truncated"),
    case(corrupt, "corrupt or unsupported data", "bad.txt", "bad-crc-after-good-files"),
    case(lambda _: make_zip(M("a.txt", os.urandom(500), method=zipfile.ZIP_STORED)),
         "package is larger than 400 bytes", None, "compressed-over-limit",
         max_compressed_bytes=400),
]


@pytest.mark.parametrize(("build", "limits", "problem", "member"), REFUSED)
def test_refused(tmp_path: Path, target: Path, build: Build, limits: dict[str, Any],
                 problem: str, member: str | None) -> None:
    data = build(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(BadRequest) as caught:
        unpack(data, target, PackageLimits(**limits))
    error = caught.value
    assert error.status == 400 and error.detail.startswith("driverFiles: ")
    assert problem in error.detail
    if member is not None:
        assert f"member {member!r}: " in error.detail
    assert str(target) not in error.detail and str(target.parent) not in error.detail
    assert list(target.iterdir()) == []
    assert tree(tmp_path) == before  # in particular no ../evil, outside/evil, abs/evil
    assert not (tmp_path / "pkg" / "evil").exists()
    assert not (tmp_path / "outside" / "evil").exists()
    assert not (tmp_path / "abs").exists()


def test_absolute_member_is_named(tmp_path: Path, target: Path) -> None:
    name = f"{tmp_path}/abs/evil"
    with pytest.raises(BadRequest, match="absolute paths") as caught:
        unpack(make_zip(M(name, b"x")), target, PackageLimits())
    assert repr(name) in caught.value.detail
    assert not Path(name).exists()


def test_partly_written_package_is_removed(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = watch_reads(monkeypatch, target)
    with pytest.raises(BadRequest, match="'bad.txt': corrupt"):
        unpack(corrupt(target), target, PackageLimits())
    assert seen[-1] == 1  # good/first.txt was on disk when bad.txt was read
    assert list(target.iterdir()) == []


# -- zip bombs and lying headers ---------------------------------------------------------------

def test_zip_bomb_refused_before_writing(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = make_zip(M("ok.txt", b"fine"), M("bomb.bin", bytes(50 * MB)))
    assert len(bomb) < MB
    seen = watch_reads(monkeypatch, target)
    with pytest.raises(BadRequest, match="'bomb.bin': larger than 10485760 bytes"):
        unpack(bomb, target, PackageLimits(max_uncompressed_bytes=10 * MB))
    assert seen == []  # refused from the headers: not one byte of member data was read
    assert usage(target) == 0


def test_zip_bomb_refused_for_its_ratio(target: Path) -> None:
    bomb = make_zip(M("bomb.bin", bytes(50 * MB)))
    with pytest.raises(BadRequest, match="'bomb.bin': compression ratio over 100"):
        unpack(bomb, target, PackageLimits())
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("declared", [1000, 5 * MB])
def test_lying_header_stopped_while_streaming(target: Path, monkeypatch: pytest.MonkeyPatch,
                                              declared: int) -> None:
    real = make_zip(M("ok.txt", b"fine"), M("bomb.bin", bytes(50 * MB)))
    lying = patch_headers(real, b"bomb.bin", file_size=declared)
    assert zipfile.ZipFile(io.BytesIO(lying)).getinfo("bomb.bin").file_size == declared
    seen = watch_reads(monkeypatch, target)
    limits = PackageLimits(max_uncompressed_bytes=10 * MB, max_ratio=1e9)
    # the headers pass every check; reading stops at the declared size, where the CRC fails
    with pytest.raises(BadRequest, match="'bomb.bin': corrupt or unsupported data"):
        unpack(lying, target, limits)
    assert max(seen) <= declared + len(b"fine") <= limits.max_uncompressed_bytes
    assert list(target.iterdir()) == []


class Endless:
    """A member stream that never ends, whatever the header says."""

    def __init__(self, root: Path, seen: list[int]) -> None:
        self.root, self.seen, self.served = root, seen, 0

    def __enter__(self) -> Endless:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, n: int = -1) -> bytes:
        assert 0 < n <= 1024 * 1024, "reads must be bounded"
        self.seen.append(usage(self.root))
        self.served += n
        if self.served > 20 * MB:
            pytest.fail("read on past every limit")
        return bytes(n)


def test_streaming_count_stops_more_data_than_declared(
        target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_zip(M("small.bin", bytes(1000)), M("next.bin", b"never read"))
    seen: list[int] = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *_, **__: Endless(target, seen))
    with pytest.raises(BadRequest, match="'small.bin': holds more data than its header"):
        unpack(data, target, PackageLimits(max_uncompressed_bytes=10 * MB))
    assert seen and max(seen) <= 1000
    assert list(target.iterdir()) == []


# -- symlinks that appear in the target --------------------------------------------------------

@pytest.mark.parametrize(("planted", "member"), [("sub", "sub/evil"), ("second", "second")])
def test_never_writes_through_a_symlink_in_the_target(
        tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch,
        planted: str, member: str) -> None:
    outside = tmp_path / "outside"

    def plant() -> None:
        if not (target / planted).is_symlink():
            (target / planted).symlink_to(outside / "evil" if planted == "second" else outside)

    watch_reads(monkeypatch, target, before_read=plant)
    with pytest.raises(OSError):  # ELOOP or EEXIST: the link is refused, never followed
        unpack(make_zip(M("first.txt", b"1"), M(member, b"x")), target, PackageLimits())
    assert list(outside.iterdir()) == []
    assert list(target.iterdir()) == []  # the link itself removed, not followed


def test_target_must_be_empty(target: Path) -> None:
    (target / "kept.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        unpack(make_zip(M("a.txt", b"1")), target, PackageLimits())
    assert tree(target) == {"kept.txt": 4}


def test_target_that_is_a_symlink_is_refused(tmp_path: Path, target: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "outside")
    with pytest.raises(OSError):  # ELOOP
        unpack(make_zip(M("a.txt", b"1")), link, PackageLimits())
    assert list((tmp_path / "outside").iterdir()) == []


# -- base64 ------------------------------------------------------------------------------------

def test_decode_accepts_standard_base64_with_whitespace() -> None:
    data = os.urandom(1000)
    text = base64.encodebytes(data).decode()
    assert "\n" in text
    assert decode_driver_files(text, PackageLimits()) == data
    assert decode_driver_files(" YW Jj\r\n\t", PackageLimits()) == b"abc"


@pytest.mark.parametrize("text", ["not base64!", "YWJj-_8=", "YW_j", "YWJ", "YWJjZA=",
                                  "YWJj\x00", "YWJjé", "=YWJj"])
def test_decode_refuses_invalid_base64(text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_driver_files(text, PackageLimits())
    assert caught.value.detail == "driverFiles: not valid base64"


def test_decode_checks_the_encoded_size_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = PackageLimits(max_compressed_bytes=30)  # at most 40 base64 characters
    monkeypatch.setattr(base64, "b64decode", lambda *_, **__: pytest.fail("decoded"))
    with pytest.raises(BadRequest, match="package is larger than 30 bytes"):
        decode_driver_files(base64.b64encode(bytes(33)).decode(), limits)


def test_decode_checks_the_decoded_size() -> None:
    limits = PackageLimits(max_compressed_bytes=31)  # 44 characters may still hold 33 bytes
    text = base64.b64encode(bytes(33)).decode()
    assert len(text) == 44
    with pytest.raises(BadRequest, match="package is larger than 31 bytes"):
        decode_driver_files(text, limits)
    assert decode_driver_files(base64.b64encode(bytes(31)).decode(), limits) == bytes(31)


def test_decode_does_not_count_whitespace() -> None:
    limits = PackageLimits(max_compressed_bytes=30)
    text = "\n".join(base64.b64encode(bytes(30)).decode())  # 79 characters, 40 of them base64
    assert decode_driver_files(text, limits) == bytes(30)


# -- DriverDirectory ---------------------------------------------------------------------------

def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_driver_directory_holds_files_and_is_removed_on_exit(tmp_path: Path) -> None:
    with DriverDirectory(encoded(valid_package()), base=tmp_path) as driver:
        assert driver.path.parent == tmp_path
        assert mode_of(driver.path) == 0o700
        assert driver.files == list(EXPECTED)
        assert (driver.path / "driver/bin/run.sh").read_bytes() == SCRIPT
        path = driver.path
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_driver_directory_is_removed_on_exception(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="driver failed"):
        with DriverDirectory(encoded(valid_package()), base=tmp_path) as driver:
            assert driver.path.is_dir()
            raise RuntimeError("driver failed")
    assert list(tmp_path.iterdir()) == []


def test_driver_directory_remove_is_idempotent(tmp_path: Path) -> None:
    with DriverDirectory(encoded(valid_package()), base=tmp_path) as driver:
        driver.remove()
        assert not driver.path.exists()
        driver.remove()
    assert list(tmp_path.iterdir()) == []


def test_driver_directory_uses_given_limits(tmp_path: Path) -> None:
    small = PackageLimits(max_files=3)
    with pytest.raises(BadRequest, match="too many files"):
        DriverDirectory(encoded(valid_package()), small, base=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["%%%", encoded(make_zip(M("../evil", b"x")))])
def test_refused_driver_directory_leaves_nothing(tmp_path: Path, text: str) -> None:
    base = tmp_path / "base"
    base.mkdir()
    with pytest.raises(BadRequest):
        DriverDirectory(text, base=base)
    assert list(base.iterdir()) == []


# -- accept: a package checked once while it is sent again and again -------------------------

def test_a_package_accepted_once_is_not_checked_again_under_the_same_limits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[PackageLimits] = []
    real = packages.verify
    monkeypatch.setattr(packages, "verify", lambda data, limits: (checked.append(limits),
                                                                   real(data, limits))[1])
    data = make_zip(M("scripts/Create.sh", os.urandom(64)))
    text = base64.b64encode(data).decode()
    assert packages.accept(text, PackageLimits()) == data
    assert packages.accept(base64.encodebytes(data).decode(), PackageLimits()) == data
    assert len(checked) == 1
    tighter = PackageLimits(max_files=5)
    assert packages.accept(text, tighter) == data
    assert checked == [PackageLimits(), tighter]


def test_a_refused_package_is_refused_every_time() -> None:
    bomb = base64.b64encode(make_zip(M("big", bytes(2 * MB)))).decode()
    limits = PackageLimits(max_uncompressed_bytes=MB)
    for _ in range(2):
        with pytest.raises(BadRequest, match="larger than 1048576 bytes uncompressed"):
            packages.accept(bomb, limits)


def test_the_memory_of_accepted_packages_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packages, "_VERIFIED", collections.OrderedDict())
    monkeypatch.setattr(packages, "_VERIFIED_MAX", 3)
    texts = [base64.b64encode(make_zip(M(f"f{i}", b"x"))).decode() for i in range(5)]
    for text in texts:
        packages.accept(text, PackageLimits())
    packages.accept(texts[2], PackageLimits())  # the most recent again
    packages.accept(base64.b64encode(make_zip(M("f5", b"x"))).decode(), PackageLimits())
    assert len(packages._VERIFIED) == 3
    kept = {digest for digest, _limits in packages._VERIFIED}
    assert kept == {hashlib.blake2b(base64.b64decode(text), digest_size=32).digest()
                    for text in (texts[2], texts[4],
                                 base64.b64encode(make_zip(M("f5", b"x"))).decode())}
