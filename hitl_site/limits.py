"""Request bodies are bounded before they are read.

Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` acts only once the server has read the whole body, and
daphne reads it all (into a temporary file, then into the application's queue) before the
application hears of the request: anonymous 200 MB bodies raised the server's memory by the body
size each. So the limits act in two places:

- :func:`bound_daphne_requests`: in daphne itself, a body whose ``Content-Length`` is over
  ``HITL_MAX_BODY_BYTES`` is answered 413 as soon as its headers arrive, and a chunked one once
  it passes the limit; a body that does not arrive within ``HITL_BODY_TIMEOUT`` seconds is
  answered 408. What the client still sends is read and dropped (so that it reads the answer
  rather than a connection reset), then the connection is closed.
- :class:`BodyLimitMiddleware`: the same size limit in ASGI terms, for any server (one that
  streams bodies stops reading at the limit): ``Content-Length`` is checked before the first
  ``receive``, and streamed bytes are counted.

Both answer JSON under ``/api/`` and plain text elsewhere; nobody's authentication is looked at.
"""

from __future__ import annotations

import json

from django.conf import settings

# After refusing a body, how long the rest of it is read and dropped before the connection closes.
LINGER_SECONDS = 5.0


def max_body_bytes() -> int:
    return settings.HITL_MAX_BODY_BYTES


def _refusal(path: str, status: int) -> tuple[bytes, bytes]:
    """(content type, body) of a refusal, JSON under /api/."""
    if status == 413:
        message, code = f"The request body may be at most {max_body_bytes()} bytes.", "too_large"
    else:
        message, code = f"The request body did not arrive within {settings.HITL_BODY_TIMEOUT:g} s.", "timeout"
    if path.startswith("/api/"):
        return b"application/json", json.dumps({"error": message, "code": code}).encode()
    return b"text/plain; charset=utf-8", message.encode() + b"\n"


# -- ASGI -----------------------------------------------------------------------------------------
class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """ASGI middleware: 413 for an HTTP request body over ``HITL_MAX_BODY_BYTES``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = max_body_bytes()
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                if declared is not None and declared > limit:
                    return await self._refuse(scope, send)  # receive() never called: nothing read
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:  # the application reads the body before it answers
                await self._refuse(scope, send)

    @staticmethod
    async def _refuse(scope, send) -> None:
        content_type, body = _refusal(scope.get("path", ""), 413)
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers + [(b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


# -- daphne ---------------------------------------------------------------------------------------
_REASONS = {408: b"Request Timeout", 413: b"Content Too Large"}


def bound_daphne_requests() -> None:
    """Make daphne refuse request bodies over the limit, or too slow, before reading them.

    daphne builds one ``daphne.http_protocol.WebRequest`` per request (Twisted calls
    ``gotLength`` once the headers are in, ``handleContentChunk`` for each piece of the body,
    ``requestReceived`` once it is complete); the bounded subclass takes its place. Idempotent.
    """
    from daphne import http_protocol
    from twisted.internet import reactor

    base = http_protocol.WebRequest
    if getattr(base, "body_bounded", False):
        return

    class BoundedWebRequest(base):
        body_bounded = True
        _refused = False
        _body_bytes = 0
        _body_timer = None

        def gotLength(self, length):
            if length is not None and length > max_body_bytes():
                self._refuse(413)
                return
            super().gotLength(length)
            if length != 0:  # a body follows: it has this long to arrive
                self._body_timer = reactor.callLater(settings.HITL_BODY_TIMEOUT, self._refuse, 408)

        def handleContentChunk(self, data):
            if self._refused:
                return
            self._body_bytes += len(data)
            if self._body_bytes > max_body_bytes():  # chunked: no Content-Length said so before
                self._refuse(413)
                return
            super().handleContentChunk(data)

        def requestReceived(self, command, path, version):
            self._cancel_timer()
            if not self._refused:
                super().requestReceived(command, path, version)

        def connectionLost(self, reason):
            self._cancel_timer()
            super().connectionLost(reason)

        def _cancel_timer(self):
            if self._body_timer is not None and self._body_timer.active():
                self._body_timer.cancel()
            self._body_timer = None

        def _refuse(self, status: int) -> None:
            self._cancel_timer()
            if self._refused or self.channel is None:
                return
            self._refused = True
            if self.content is None:
                super().gotLength(0)  # an empty body, for whatever looks at it on close
            channel, transport = self.channel, self.channel.transport
            channel.dataReceived = lambda data: None  # the rest is read and dropped, never kept
            channel.setTimeout(None)
            # The request line's target: self.path is set only once the whole body is in.
            target = getattr(channel, "_path", None) or b""
            content_type, body = _refusal(target.decode("ascii", "replace"), status)
            transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (status, _REASONS[status], content_type, len(body), body)
            )
            try:
                transport.loseWriteConnection()  # the answer, then end of stream; still reading
            except (AttributeError, NotImplementedError):  # a transport that cannot half-close
                transport.loseConnection()
                return
            reactor.callLater(LINGER_SECONDS, _close, transport)

    http_protocol.WebRequest = BoundedWebRequest


def _close(transport) -> None:
    if transport.connected:
        transport.loseConnection()
