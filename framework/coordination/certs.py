"""Client certificates for OAUTH2_CLIENT_CERT, found by their ``x5t#S256`` fingerprint.

The certificates live in one directory (setting ``coordination_client_certs``): each
``NAME.pem``, ``NAME.crt`` or ``NAME.cer`` file whose first certificate has the requested
fingerprint is the client certificate; its unencrypted private key is either in the same
PEM file or in ``NAME.key`` next to it. Other files are ignored.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import re
from pathlib import Path

from framework.coordination.errors import CoordinationError

log = logging.getLogger(__name__)

X5T_S256 = "x5t#S256"
CERT_SUFFIXES = (".pem", ".crt", ".cer")
MAX_PEM_BYTES = 1024 * 1024

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")


def thumbprint(cert_pem: str | bytes) -> str:
    """The ``x5t#S256`` fingerprint of the first certificate in ``cert_pem``.

    That is the SHA-256 digest of the DER certificate, base64url-encoded without padding
    (RFC 7515, 4.1.8). Raises ValueError when ``cert_pem`` holds no PEM certificate.
    """
    data = cert_pem.encode("ascii", errors="replace") if isinstance(cert_pem, str) else cert_pem
    match = _PEM_CERT.search(data)
    if match is None:
        raise ValueError("no PEM certificate found")
    der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


@dataclasses.dataclass(frozen=True)
class ClientCert:
    """A client certificate file and its key file (None: the key is in the same file)."""

    cert_file: str
    key_file: str | None = None

    @property
    def for_requests(self) -> str | tuple[str, str]:
        """The value of the ``cert`` argument of requests."""
        return self.cert_file if self.key_file is None else (self.cert_file, self.key_file)


def find_client_cert(directory: str, fingerprint: str) -> ClientCert:
    """The certificate of ``directory`` whose ``x5t#S256`` fingerprint is ``fingerprint``.

    Raises CoordinationError naming the fingerprint when none matches, and when the
    matching certificate has no private key.
    """
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise CoordinationError(f"client certificate directory {folder} does not exist")
    wanted = fingerprint.strip().rstrip("=")
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in CERT_SUFFIXES or not path.is_file():
            continue
        try:
            with path.open("rb") as file:
                data = file.read(MAX_PEM_BYTES)
            found = thumbprint(data)
        except (OSError, ValueError) as exc:
            log.debug("skipping %s: %s", path, exc)
            continue
        if found != wanted:
            continue
        if _PEM_KEY.search(data):
            return ClientCert(str(path))
        key = path.with_suffix(".key")
        if key.is_file():
            return ClientCert(str(path), str(key))
        raise CoordinationError(
            f"client certificate {path} has the fingerprint {X5T_S256} {fingerprint} but no "
            f"private key: put the key in the same PEM file or in {key.name}")
    raise CoordinationError(
        f"no client certificate in {folder} has the fingerprint {X5T_S256} {fingerprint}")
