"""A real HTTP server on loopback serving feeds, with ETags, redirects, slow and trickling
routes, for ingest tests. It is on loopback: fetches from it need FEEDS_ALLOW_PRIVATE
(`allow_private=True`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes
    status: int = 200
    etag: str | None = None
    delay: float = 0.0
    # Where a 3xx status sends the client.
    location: str | None = None
    # Seconds between the body's bytes, sent one at a time (a server that never stalls
    # long enough for a read to time out).
    trickle: float = 0.0


class FeedServer:
    """A real HTTP server on a free loopback port that serves routes and records requests."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()  # wakes delayed handlers at teardown
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                if route.delay:
                    server.release.wait(route.delay)
                try:
                    if route.etag and self.headers.get("If-None-Match") == route.etag:
                        self.send_response(304)
                        self.send_header("ETag", route.etag)
                        self.end_headers()
                        return
                    self.send_response(route.status)
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(route.body)))
                    if route.etag:
                        self.send_header("ETag", route.etag)
                    if route.location:
                        self.send_header("Location", route.location)
                    self.end_headers()
                    if not route.trickle:
                        self.wfile.write(route.body)
                    for position in range(len(route.body) if route.trickle else 0):
                        self.wfile.write(route.body[position : position + 1])
                        self.wfile.flush()
                        if server.release.wait(route.trickle):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, which is what a timeout test wants

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base_url + path

    def headers_of(self, path: str) -> list[dict[str, str]]:
        return [headers for seen, headers in self.requests if seen == path]


@contextmanager
def running_feed_server(host: str = "127.0.0.1") -> Iterator[FeedServer]:
    server = FeedServer(host)
    server.thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with running_feed_server() as server:
        yield server
