"""A real HTTP/1.1 server on 127.0.0.1 for crawler tests; each route is a function of the request.

Real sockets (not mocked ``requests``) so timeouts, streaming, chunked bodies and redirects behave
as they do on the internet.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Hit:
    """One request the server received."""

    path: str  # with the query string
    host: str  # the Host header without the port: "127.0.0.1" or "localhost"
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic() on arrival


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # send the body in chunks without a Content-Length
    delay_s: float = 0.0  # wait this long before answering


Route = Callable[[Hit], Reply]


def html(text: str) -> Reply:
    return Reply(body=f"<html><body><p>{text}</p></body></html>".encode())


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location}, content_type=None)


class LocalHttpServer:
    """Routes by path (query ignored); unknown paths, robots.txt included, answer 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.port = self._httpd.server_address[1]

    def route(self, path: str, reply: Reply | Route) -> None:
        self.routes[path] = reply if callable(reply) else (lambda _hit: reply)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if urlsplit(hit.path).path == path]

    def _record(self, hit: Hit) -> Reply:
        with self._lock:
            self.hits.append(hit)
        route = self.routes.get(urlsplit(hit.path).path)
        return route(hit) if route else Reply(status=404, body=b"not found", content_type="text/plain")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like real servers

            def do_GET(self) -> None:
                hit = Hit(
                    path=self.path,
                    host=self.headers.get("Host", "").rsplit(":", 1)[0],
                    headers={k.lower(): v for k, v in self.headers.items()},
                    at=time.monotonic(),
                )
                reply = server._record(hit)
                time.sleep(reply.delay_s)
                # The client may have given up already (a timeout test): nothing to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(reply.body), 1024):
                        piece = reply.body[start : start + 1024]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest output clean

        return Handler

    def start(self) -> None:
        # A short poll interval: shutdown() waits up to one interval, at every test's teardown.
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def running_server() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
