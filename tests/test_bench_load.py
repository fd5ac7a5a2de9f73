"""The benchmarks' load generator against a real loopback HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import drive


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the benchmarks use

    def do_GET(self) -> None:
        status = 200 if self.path == "/ok" else 404
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_drive_sends_exactly_the_bounded_number(port: int) -> None:
    load = drive(port, [("GET", "/ok", None)], {}, clients=3, total=30, seconds=30)
    assert load.requests == 30
    assert load.errors == 0
    assert 0 < load.percentile_ms(0.5) <= load.percentile_ms(0.99)
    assert load.throughput > 0


def test_drive_counts_errors_and_keeps_the_first(port: int) -> None:
    requests: list[tuple[str, str, bytes | None]] = [
        ("GET", "/ok", None),
        ("GET", "/missing", None),
    ]
    load = drive(port, requests, {}, clients=1, total=10, seconds=30)
    assert load.errors == 5
    assert len(load.latencies_s) == 5
    assert load.first_error == "{}"
