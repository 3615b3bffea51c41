"""The optional auth layer: HTTP Basic and bearer tokens, checked by connexion's handlers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from connexion.security import BasicSecurityHandler, BearerSecurityHandler

from framework.config import Settings

SCHEME_NAMES = {"basic": "basicAuth", "bearer": "bearerAuth"}


def _matches(candidate: str, expected: str) -> bool:
    """Constant-time comparison; ``expected`` may be ``sha256:<hex digest>``."""
    if expected.startswith("sha256:"):
        digest = hashlib.sha256(candidate.encode()).hexdigest()
        return hmac.compare_digest(digest, expected[len("sha256:"):].lower())
    return hmac.compare_digest(candidate.encode(), expected.encode())


class Authenticator:
    """Checks credentials against the settings; returns connexion's token info or ``None``."""

    def __init__(self, settings: Settings) -> None:
        self.schemes = settings.auth
        self._users = dict(settings.auth_users)
        self._tokens = tuple(settings.auth_tokens)

    def check_basic(self, username: str, password: str) -> dict[str, Any] | None:
        expected = self._users.get(username)
        if expected is None or not _matches(password, expected):
            return None
        return {"sub": username, "scheme": "basic"}

    def check_bearer(self, token: str) -> dict[str, Any] | None:
        for index, expected in enumerate(self._tokens):
            if _matches(token, expected):
                return {"sub": f"token-{index}", "scheme": "bearer"}
        return None

    def security_map(self) -> dict[str, type]:
        """Handler classes bound to this authenticator, for ``add_api(security_map=...)``."""
        check_basic, check_bearer = self.check_basic, self.check_bearer

        class Basic(BasicSecurityHandler):  # type: ignore[misc]
            def _get_function(self, *_args: Any, **_kwargs: Any) -> Callable[..., Any]:
                return check_basic

        class Bearer(BearerSecurityHandler):  # type: ignore[misc]
            def _get_function(self, *_args: Any, **_kwargs: Any) -> Callable[..., Any]:
                return check_bearer

        return {"basic": Basic, "bearer": Bearer}

    def apply(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Keeps in ``spec`` only the security requirements of the enabled schemes.

        With auth off, every requirement is removed, so connexion checks nothing;
        an operation that declares ``security: []`` (health, readiness) stays open.
        """
        enabled = {SCHEME_NAMES[s] for s in self.schemes}

        def keep(requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if not requirements:
                return requirements
            return [r for r in requirements if set(r) <= enabled and r]

        if "security" in spec:
            spec["security"] = keep(spec["security"])
            if not spec["security"]:
                del spec["security"]
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict) and operation.get("security"):
                    operation["security"] = keep(operation["security"])
                    if not operation["security"]:
                        del operation["security"]
        return spec
