"""Webhook POSTs over kept-alive HTTP connections: each sending thread keeps one connection per
origin (scheme, host, port) from one POST to the next, and from one send pass to the next.

A send pass posts many deliveries, most of them to the same few endpoints. A connection per POST
(what ``urllib.request.urlopen`` does) costs a TCP handshake (and a TLS one) each time, and more
CPU on both sides than the request itself. A kept connection that the server closed while it was
idle is noticed before it is used (its socket reads as ready: the end of the stream), and a POST
that fails on a reused connection before any response came is sent once more on a new one: the
server may have closed the connection just as it was reused. The receiver may then get the
delivery twice, as after any retry; the delivery id (``X-HITL-Delivery``) tells it.

An endpoint reached through a proxy (``HTTP_PROXY``/``HTTPS_PROXY`` and ``NO_PROXY``, as urllib
reads them) is posted to through urllib, a connection per POST, as before.

A redirect is not followed: it counts as a failed attempt (``HTTP 301 ...``), retried later. urllib
turned a redirected POST into a GET without its body, which delivered nothing.
"""

from __future__ import annotations

import http.client
import os
import select
import ssl
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from . import addresses

KEPT_PER_THREAD = 32  # origins whose connection a thread keeps (the least recently used go first)
MAX_RESPONSE_BYTES = 64 * 1024  # read of a response's body; a longer one closes its connection

_local = threading.local()
_pool_lock = threading.Lock()
_pool: tuple[tuple[int, int], ThreadPoolExecutor] | None = None  # a forked child makes its own
_tls = None


def pool(threads: int) -> ThreadPoolExecutor:
    """The process's sending threads (started as needed, kept: their connections are kept too)."""
    global _pool
    with _pool_lock:
        key = (os.getpid(), threads)
        if _pool is None or _pool[0] != key:
            _pool = (key, ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hitl-webhooks"))
        return _pool[1]


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:  # certificates checked as urllib checks them; built once (it reads the CA store)
        _tls = ssl.create_default_context()
    return _tls


def _kept() -> OrderedDict:
    kept = getattr(_local, "connections", None)
    if kept is None or _local.pid != os.getpid():
        kept = _local.connections = OrderedDict()
        _local.pid = os.getpid()
    return kept


def _dropped(sock) -> bool:
    """Whether an idle kept connection is unusable: its socket is readable (the server closed it,
    or sent something unasked), or cannot be checked."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed, or a descriptor select cannot take
        return True
    return bool(readable)


def _connection(scheme: str, host: str, port: int | None, timeout: float):
    """A kept connection to the origin, checked, or a new one (not yet connected). Second: whether
    it was kept (it carried a request before)."""
    kept = _kept()
    key = (scheme, host, port)
    conn = kept.pop(key, None)
    if conn is not None and (conn.sock is None or _dropped(conn.sock)):
        conn.close()
        conn = None
    reused = conn is not None
    if conn is None:
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        conn.timeout = timeout
        conn.sock.settimeout(timeout)
    return conn, reused


def _keep(scheme: str, host: str, port: int | None, conn) -> None:
    kept = _kept()
    kept[(scheme, host, port)] = conn
    while len(kept) > KEPT_PER_THREAD:
        _, oldest = kept.popitem(last=False)
        oldest.close()


def proxies() -> dict:
    """The proxies urllib would use (from the environment): read once per send pass."""
    return urllib.request.getproxies()


def post(
    url: str, body: bytes, headers: dict, *, timeout: float, proxies: dict | None = None
) -> tuple[int | None, str]:
    """POST ``body`` to ``url``: ``(status code, error)``; the error is empty on a 2xx answer.
    ``proxies``: as :func:`proxies` returns them (read here when not given)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme not in ("http", "https") or not host:
        return None, f"ValueError: not an http(s) URL: {url[:200]}"
    proxies = urllib.request.getproxies() if proxies is None else proxies
    if scheme in proxies and not urllib.request.proxy_bypass(host):
        return _post_urllib(url, body, headers, timeout, proxies)
    try:
        port = parts.port
    except ValueError as exc:
        return None, f"ValueError: {exc}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    while True:
        conn, reused = _connection(scheme, host, port, timeout)
        if not reused and (refusal := addresses.connect_refusal(host, port)):
            return None, refusal
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            conn.close()
            if reused:  # closed by the server as it was reused: once more, on a new connection
                continue
            return None, f"{type(exc).__name__}: {exc}"[:2000]
        except Exception as exc:  # refused, timed out, DNS, TLS...: all retried the same way
            conn.close()
            return None, f"{type(exc).__name__}: {exc}"[:2000]
        if response.isclosed() and conn.sock is not None:
            _keep(scheme, host, port, conn)  # read to its end: the connection can carry the next
        else:
            conn.close()  # more than we read, or the server said it closes
        if 200 <= response.status < 300:
            return response.status, ""
        return response.status, f"HTTP {response.status} {response.reason}"[:2000]


def _post_urllib(url: str, body: bytes, headers: dict, timeout: float, proxies: dict) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    # An opener of its own: urlopen() would install one process-wide, keeping these proxies for
    # every later urlopen() of the process whatever the environment says then.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:2000]


def close_all() -> None:
    """Close this thread's kept connections (tests)."""
    kept = _kept()
    while kept:
        kept.popitem()[1].close()
