"""A loopback HTTP server that answers GETs with fixture files, for the sources' tests.

The standard library's ``ThreadingHTTPServer`` on an ephemeral port of 127.0.0.1. It records
every path asked for, serves ``routes`` (path → fixture file and content type) from one
folder, answers 404 to the rest, and lets a test hold an answer on ``release`` (an ``Event``)
so a client's time-out fires for real. A test file adds its own paths (a broken one, a held
one) by overriding ``FixtureHandler.special``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Routes = dict[str, tuple[str, str]]  # path → (file under the folder, content type)


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path, routes: Routes, handler: type[FixtureHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.folder = folder
        self.routes = routes
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, path: str) -> None:
        with self.lock:
            self.requests.append(path)

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for seen in self.requests if seen.split("?")[0] == path)

    def wait_for_hits(self, path: str, count: int, deadline: float = 5.0) -> int:
        """Wait until ``path`` was asked for ``count`` times or the deadline passes."""
        end = time.monotonic() + deadline
        while self.hits(path) < count and time.monotonic() < end:
            time.sleep(0.01)
        return self.hits(path)

    def let_go(self) -> None:
        """Free every held answer before shutting down."""
        self.release.set()


class FixtureHandler(BaseHTTPRequestHandler):
    server: FixtureServer

    def do_GET(self) -> None:
        self.server.record(self.path)
        path = self.path.split("?")[0]
        if self.special(path):
            return
        if path in self.server.routes:
            name, kind = self.server.routes[path]
            self.answer(200, (self.server.folder / name).read_bytes(), f"{kind}; charset=utf-8")
        else:
            self.answer(404, b"Entry not found", "text/plain")

    def special(self, path: str) -> bool:
        """Answer ``path`` if it is one of the test's own; say whether it was."""
        return False

    def answer(self, status: int, body: bytes, kind: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left: nothing left to tell it

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(server: FixtureServer) -> Iterator[FixtureServer]:
    """``server`` answering on its own thread until the block ends."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.let_go()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
