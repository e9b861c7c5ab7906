"""Request bodies, read whole or refused whole.

Werkzeug checks MAX_CONTENT_LENGTH against a Content-Length up front (413), but a chunked body (no Content-Length)
is only wrapped in a stream that stops at the limit without an error: the part before the cut would be taken
for the whole body. So a chunked body is read here up to one byte past the limit, and refused if it has it.

Nothing decodes a Content-Encoding (gzip, br, ...): a body that declares one is refused (415) rather than read as
if it were plain, which made a gzipped NDJSON batch a durable task of one unreadable line, answered 202.

A chunked body whose framing is broken (a chunk size that is not hex, a chunk without its CRLF, the connection
closed mid-chunk) makes the server's input stream raise its own parse error (gunicorn's InvalidChunkSize, ...):
that is the client's malformed request, a 400 (BodyFramingMiddleware), not the 500 it was, for every body read
(the API's JSON bodies, the key form's)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from searchsvc.errors import PayloadTooLargeError, UnsupportedMediaTypeError

_PIECE = 1 << 16


def read_body(limit: int) -> bytes:
    """The request's body; PayloadTooLargeError (413) when it is longer than `limit` bytes, however it is sent;
    UnsupportedMediaTypeError (415) when it declares a Content-Encoding."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaTypeError(
            f"request bodies are read as sent: Content-Encoding {encoding!r} is not supported; send it uncompressed"
        )
    if request.content_length is not None:
        return request.get_data(cache=False)  # Werkzeug refused it already if it is over MAX_CONTENT_LENGTH
    stream = request.environ.get("wsgi.input")
    if stream is None or not request.environ.get("wsgi.input_terminated"):
        return request.get_data(cache=False)  # a server that cannot end a chunked body: Werkzeug gives none
    pieces: list[bytes] = []
    size = 0
    while piece := stream.read(min(_PIECE, limit + 1 - size)):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            raise PayloadTooLargeError(f"the request body is larger than {limit} bytes; nothing was accepted")
    return b"".join(pieces)


class _CheckedInput:
    """A WSGI input stream whose read errors are the client's malformed body: BadRequest (400)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _guard(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except BadRequest:
            raise
        except Exception as exc:  # the server's own parse errors (no import of the server here)
            raise BadRequest(f"the request body is malformed ({type(exc).__name__}); nothing was accepted") from None

    def read(self, *args: Any) -> bytes:
        return self._guard(self._stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._guard(self._stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._guard(self._stream.readlines, *args)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class BodyFramingMiddleware:
    """Wraps wsgi.input in _CheckedInput, so that however a body is read (read_body, a form) a broken one is a 400."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("wsgi.input") is not None:
            environ["wsgi.input"] = _CheckedInput(environ["wsgi.input"])
        return self.app(environ, start_response)
