"""A real HTTP server on a loopback address, in a thread, for registry-client tests.

Each server records every request it receives (method, path, headers) and answers with
a function the test gives it, so a test can assert what a host was sent, not what a mock
was called with. 127.0.0.2 is a different host from 127.0.0.1 on Linux loopback, so a
"redirect to another host" needs no network and no DNS."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def raw(self) -> str:
        """Request line and every header, as one string to search for leaked secrets."""
        return "\n".join([f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers)])


Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[[Seen], Reply]


@dataclass
class LoopbackServer:
    """``ThreadingHTTPServer`` on ``host`` and a free port, answering with ``respond``."""

    host: str = "127.0.0.1"
    respond: Responder = lambda seen: (404, {}, b"")  # noqa: E731
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    """TCP connections accepted, HTTP or not (a TLS handshake counts too)."""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def addr(self) -> str:
        """``host:port``, as a registry host is written in an image reference."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def start(self) -> LoopbackServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                seen = Seen(self.command, self.path, tuple(self.headers.items()))
                outer.requests.append(seen)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body = outer.respond(seen)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def verify_request(self, request: object, client_address: object) -> bool:
                outer.connections += 1
                return True

        self._server = Server((self.host, 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
