"""Request bodies, read whole or refused whole.

Werkzeug checks MAX_CONTENT_LENGTH against a Content-Length up front (413), but a chunked body (no Content-Length)
is only wrapped in a stream that stops at the limit without an error: the part before the cut would be taken
for the whole body. So a chunked body is read here up to one byte past the limit, and refused if it has it.

Nothing decodes a Content-Encoding (gzip, br, ...): a body that declares one is refused (415) rather than read as
if it were plain, which made a gzipped NDJSON batch a durable task of one unreadable line, answered 202."""

from __future__ import annotations

from flask import request

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
