"""A webhook receiver on loopback for the tests: a real HTTP server in a thread that records every request
(headers, body, when it arrived) and answers the status it is told to (200 by default; 500 to fail) — or is
down (``stop()``: connections are refused) and up again on the same port (``start()``).

    with WebhookReceiver() as receiver:
        ... register receiver.url ...
        (request,) = await receiver.received(1)
        Webhook(secret).verify(request.body, request.headers)
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() on arrival
    answered: int


class WebhookReceiver:
    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s  # a slow endpoint: each answer waits this long
        self.requests: list[Received] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, time.monotonic(), status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until ``start()`` again."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def taken(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    async def received(self, count: int, *, within_s: float = 30.0) -> list[Received]:
        """The requests once at least ``count`` arrived (AssertionError naming what did if not in time)."""
        deadline = time.monotonic() + within_s
        while len(self.taken()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook request(s), got {len(self.taken())}")
            await asyncio.sleep(0.05)
        return self.taken()
