"""Request bodies are bounded before they are read, whoever sends them.

Against a real forked daphne serving the real ASGI application: a body declared over the limit
is answered 413 while the client has sent only a sliver of it (the server cannot have read it),
a chunked one once it passes the limit, a body that never arrives 408; and the server's memory
does not grow by the bodies it refused. Plus the ASGI middleware on its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from django.conf import settings

from hitl_site.limits import BodyLimitMiddleware
from tests.conftest import _serve_setup, prepare_fork

# The forked server runs its embedded worker on the test database: have it created.
pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 1_000_000
MB = 1024 * 1024


@pytest.fixture(scope="module")
def bounded_server(django_db_setup, django_db_blocker):
    """(host, port, pid) of a forked daphne with a body timeout short enough to test."""
    from functools import partial

    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess

    saved = settings.HITL_BODY_TIMEOUT
    settings.HITL_BODY_TIMEOUT = 1.5  # read by the server when it runs: set before the fork
    proc = DaphneProcess("127.0.0.1", partial(make_application, static_wrapper=None), setup=_serve_setup)
    prepare_fork()
    with django_db_blocker.unblock():
        proc.start()
    settings.HITL_BODY_TIMEOUT = saved
    if not proc.ready.wait(15):
        proc.terminate()
        raise RuntimeError("the daphne test server did not start within 15 s")
    yield "127.0.0.1", proc.port.value, proc.pid
    proc.terminate()
    proc.join(5)


def _connect(server) -> socket.socket:
    sock = socket.create_connection(server[:2], timeout=10)
    return sock


def _headers(path: str, **headers) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ")[1]), body


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("path", ["/api/v1/runs", "/workflows/data_export/", "/accounts/login/"])
def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(bounded_server, path):
    with _connect(bounded_server) as sock:
        sock.sendall(_headers(path, Content_Length=200 * MB))  # anonymous: no session, no token
        sock.sendall(b"x" * 64 * 1024)  # a sliver of the 200 MB; the rest never comes
        status, body = _response(sock)
    assert status == 413
    if path.startswith("/api/"):
        assert json.loads(body)["code"] == "too_large"
    else:
        assert b"at most 1000000 bytes" in body


def test_a_chunked_body_is_refused_once_past_the_limit(bounded_server):
    with _connect(bounded_server) as sock:
        sock.sendall(_headers("/api/v1/runs", Transfer_Encoding="chunked"))
        chunk = b"x" * 64 * 1024
        sent = 0
        while sent <= LIMIT + len(chunk):  # past the limit, never the final empty chunk
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        status, body = _response(sock)
    assert status == 413
    assert json.loads(body)["code"] == "too_large"


def test_a_body_that_never_arrives_times_out(bounded_server):
    with _connect(bounded_server) as sock:
        sock.sendall(_headers("/api/v1/runs", Content_Length=100))
        sock.sendall(b'{"workflow": ')  # and then nothing
        started = time.monotonic()
        status, body = _response(sock)
    assert status == 408
    assert json.loads(body)["code"] == "timeout"
    assert time.monotonic() - started < 6


def test_a_body_under_the_limit_still_reaches_the_application(bounded_server):
    payload = json.dumps({"workflow": "data_export", "input": "x" * 500_000}).encode()
    with _connect(bounded_server) as sock:
        sock.sendall(_headers("/api/v1/runs", Content_Length=len(payload)) + payload)
        status, body = _response(sock)
    assert status == 401  # anonymous: refused by authentication, once the body was in
    assert json.loads(body)["code"] == "not_authenticated"


def test_refused_bodies_sent_whole_do_not_grow_the_servers_memory(bounded_server):
    """Four 50 MB bodies sent in full, at once: read and dropped, never kept."""
    pid = bounded_server[2]
    before = _rss(pid)
    sockets = [_connect(bounded_server) for _ in range(4)]
    chunk = b"x" * MB
    for sock in sockets:
        sock.sendall(_headers("/api/v1/runs", Content_Length=50 * MB))
    statuses = []
    for sock in sockets:
        try:
            for _ in range(50):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close once it has answered
        statuses.append(_response(sock)[0])
        sock.close()
    assert statuses == [413] * 4
    grown = _rss(pid) - before
    assert grown < 20 * MB, f"the server grew by {grown // MB} MB"


# -- the ASGI middleware on its own -----------------------------------------------------------------
def _run(app, scope, messages):
    """Call ``app`` with ``messages`` to receive; returns (sent messages, how many were received)."""
    sent, received = [], 0
    queue = list(messages)

    async def receive():
        nonlocal received
        received += 1
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, received


def _scope(path="/api/v1/runs", headers=()):
    return {"type": "http", "method": "POST", "path": path, "headers": list(headers)}


async def _echo_app(scope, receive, send):
    """Reads the whole body, like Django, then answers 200 with its size."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_middleware__a_declared_length_over_the_limit_is_refused_unread():
    app = BodyLimitMiddleware(_echo_app)
    sent, received = _run(app, _scope(headers=[(b"content-length", b"%d" % (LIMIT + 1))]), [])
    assert received == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "too_large"


def test_middleware__a_streamed_body_is_refused_at_the_limit():
    app = BodyLimitMiddleware(_echo_app)
    chunks = [{"type": "http.request", "body": b"x" * 300_000, "more_body": True} for _ in range(10)]
    sent, received = _run(app, _scope(path="/workflows/data_export/"), chunks)
    assert received == 4  # stopped reading at the chunk that passed the limit
    assert sent[0]["status"] == 413
    assert sent[1]["body"].startswith(b"The request body may be at most")


def test_middleware__bodies_under_the_limit_and_other_scopes_pass():
    app = BodyLimitMiddleware(_echo_app)
    body = [{"type": "http.request", "body": b"x" * LIMIT, "more_body": False}]
    sent, _ = _run(app, _scope(headers=[(b"content-length", b"%d" % LIMIT)]), body)
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"%d" % LIMIT)
    seen = []

    async def websocket_app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(BodyLimitMiddleware(websocket_app)({"type": "websocket"}, None, None))
    assert seen == ["websocket"]


def test_a_websocket_message_over_the_limit_closes_the_socket(bounded_server, outsider):
    """daphne's own limit (--websocket-max-message-size, 1 MiB): the socket is closed rather
    than the message kept. Consumers act on nothing a page sends anyway."""
    from django.test import Client
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    client = Client()
    client.force_login(outsider)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    host, port, _ = bounded_server
    origin = f"http://{host}:{port}"
    with connect(f"ws://{host}:{port}/ws/inbox/", origin=origin, additional_headers={"Cookie": cookie}) as socket_:
        socket_.send("x" * 1000)  # small: ignored, the socket stays open
        with pytest.raises(TimeoutError):
            socket_.recv(timeout=0.5)
        socket_.send("x" * (MB + 1))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket_.recv(timeout=5)
    # Closed with 1009 (message too big), or dropped without a closing handshake.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
