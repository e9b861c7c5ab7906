"""Who may call what: one policy for every route of both blueprints.

- open endpoints (/health, /ready) and CORS preflights need no key;
- writes need the admin key, and are refused (403) while the server has none;
- everything else needs the search key when one is set; the admin key opens everything the search key opens.

The HTML pages (pages.py) take the key from the KEY_COOKIE cookie too, which their /key form sets (HttpOnly,
SameSite=Strict): a browser cannot send a bearer header on a link. The JSON API never reads the cookie, so no
other site's page can make a browser call it with the key, and writes still need the header.
"""

from __future__ import annotations

import hmac

from flask import request

from searchsvc.config import Settings
from searchsvc.errors import ForbiddenError, UnauthorizedError

OPEN_ENDPOINTS = frozenset({"api.health", "api.ready", "pages.key", "pages.forget_key", "pages.static"})
KEY_COOKIE = "searchsvc_key"
WRITE_ENDPOINTS = frozenset(
    {"writes.put_document", "writes.post_documents", "writes.delete_document", "writes.reindex"}
)


def bearer_key() -> str | None:
    """The key of an `Authorization: Bearer <key>` header, if any."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def key_matches(given: str | None, key: str | None) -> bool:
    """Constant-time comparison; an unset key matches nothing."""
    return bool(key) and given is not None and hmac.compare_digest(given.encode(), str(key).encode())


def authorize(settings: Settings) -> None:
    """Raise the error for a request this policy refuses (run before every request)."""
    if request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS:
        return
    given = bearer_key()
    if given is None and request.blueprint == "pages":
        given = request.cookies.get(KEY_COOKIE)
    if request.endpoint in WRITE_ENDPOINTS:
        if not settings.admin_key:
            raise ForbiddenError(
                "writes are disabled on this server: set SEARCHSVC_ADMIN_KEY, restart it, and send the key "
                "as Authorization: Bearer <key>"
            )
        if not key_matches(given, settings.admin_key):
            raise UnauthorizedError("writes need the admin key: send Authorization: Bearer <admin key>")
    elif settings.search_key and not (
        key_matches(given, settings.search_key) or key_matches(given, settings.admin_key)
    ):
        raise UnauthorizedError("a valid key is required: send Authorization: Bearer <key>")
