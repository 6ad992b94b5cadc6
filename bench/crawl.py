"""Crawl throughput: sequential versus a thread pool over several hosts, and the per-host limit.

A few hundred generated article pages are served on loopback under four host names (127.0.0.1,
localhost, 127.0.0.2, 127.0.0.3: distinct hosts to the crawler), each answer delayed to mimic
network latency. The same pages are crawled by the real crawl stage (fetch, extract, MongoDB
upsert on the embedded server) once with one worker and once with a pool, each into its own
database. Printed: pages/s of both, their ratio, and the smallest gap the server saw between two
requests to one host next to ``per_host_delay_s`` (the pool must not beat it).

    .venv/bin/python bench/crawl.py [--pages 300] [--workers 8] [--latency-ms 20] [--delay-ms 50]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
HOSTS = ("127.0.0.1", "localhost", "127.0.0.2", "127.0.0.3")  # localhost is served by 127.0.0.1
# The per-host check counts requests within windows this many delays long.
WINDOW_GAPS = 10
WORDS = "pipeline crawler feature store embedding retrieval chunk dataset training airflow asset".split()


def page_html(number: int) -> bytes:
    paragraphs = "".join(
        f"<p>Post {number}, paragraph {p}: "
        + " ".join(WORDS[(number + p + w) % len(WORDS)] for w in range(60))
        + ".</p>"
        for p in range(6)
    )
    return (
        f"<html lang='en'><head><title>Post {number}</title></head><body><article><h1>Post {number}</h1>"
        f"{paragraphs}</article></body></html>"
    ).encode()


class Requests:
    """Arrival times per Host header, as the server saw them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.at: dict[str, list[float]] = defaultdict(list)

    def record(self, host: str) -> None:
        with self._lock:
            self.at[host].append(time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self.at.clear()

    def gaps_s(self) -> list[float]:
        return [b - a for times in self.at.values() for a, b in pairwise(sorted(times))]

    def mean_gap_s(self) -> float:
        return min((max(t) - min(t)) / (len(t) - 1) for t in self.at.values() if len(t) > 1)

    def most_in_window(self, window_s: float) -> int:
        """The most requests one host received within any ``window_s`` (both ends included)."""
        most = 0
        for times in self.at.values():
            ordered, first = sorted(times), 0
            for last, at in enumerate(ordered):
                while at - ordered[first] > window_s:
                    first += 1
                most = max(most, last - first + 1)
        return most


def handler_class(requests: Requests, latency_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            requests.record(self.headers.get("Host", "").rsplit(":", 1)[0])
            time.sleep(latency_s)
            if self.path.startswith("/post-"):
                body, status = page_html(int(self.path.removeprefix("/post-").split(".")[0])), 200
            else:
                body, status = b"not found", 404  # robots.txt too: everything is allowed
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a crawler closing its idle keep-alive connections is not an error worth a traceback


@contextmanager
def serve(requests: Requests, latency_s: float) -> Iterator[dict[str, int]]:
    """One server per loopback address; yields the port of each host name."""
    with ExitStack() as stack:
        ports = {}
        for address in ADDRESSES:
            server = QuietServer((address, 0), handler_class(requests, latency_s))
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            ports[address] = server.server_address[1]
        ports["localhost"] = ports["127.0.0.1"]
        yield ports


def crawl(settings, targets, workers: int) -> float:
    """Seconds to crawl ``targets`` with ``workers`` threads; every page must end up stored."""
    from ragdag.crawling.crawl_report import CrawlReport
    from ragdag.crawling.service import crawl_targets

    started = time.perf_counter()
    total = CrawlReport.total(crawl_targets(settings, targets, "bench", concurrency=workers))
    elapsed = time.perf_counter() - started
    if total.new != len(targets):
        raise SystemExit(f"expected {len(targets)} new documents, got {total.model_dump()}")
    return elapsed


@contextmanager
def embedded_mongodb(data_dir: Path) -> Iterator[None]:
    """The project's embedded MongoDB on a free port, as the ``mongo_default`` connection."""
    from ragdag.stores import embedded_mongo

    server = embedded_mongo.start(data_dir / "mongodb", embedded_mongo.free_port())
    os.environ["AIRFLOW_CONN_MONGO_DEFAULT"] = f"mongo://127.0.0.1:{server.port}/"
    try:
        yield
    finally:
        embedded_mongo.stop(data_dir / "mongodb")


@dataclass
class Measured:
    sequential_s: float
    pooled_s: float
    gaps_s: list[float]  # between consecutive requests to one host, pool run
    lowest_mean_gap_s: float
    most_in_window: int


def measure(args: argparse.Namespace, tmp: Path) -> Measured:
    from ragdag.crawling.crawl_plan import CrawlTarget
    from ragdag.settings import Settings

    requests = Requests()
    with embedded_mongodb(tmp / "data"), serve(requests, args.latency_ms / 1000) as ports:
        hosts = [HOSTS[n % len(HOSTS)] for n in range(args.pages)]  # interleaved, as mapped tasks are
        targets = [
            CrawlTarget(author_full_name="Bench Author", url=f"http://{host}:{ports[host]}/post-{n}.html")
            for n, host in enumerate(hosts)
        ]
        base = Settings(
            data_dir=tmp / "data", allow_private_networks=True, http_timeout_s=30.0,
            per_host_delay_s=args.delay_ms / 1000,
        )
        # Each run into its own database: the second must not find the first's pages stored.
        sequential_s = crawl(base.model_copy(update={"mongo_database": "bench_sequential"}), targets, 1)
        requests.clear()
        pooled_s = crawl(base.model_copy(update={"mongo_database": "bench_pool"}), targets, args.workers)
    window_s = WINDOW_GAPS * base.per_host_delay_s
    return Measured(
        sequential_s, pooled_s, requests.gaps_s(), requests.mean_gap_s(), requests.most_in_window(window_s)
    )


def report(args: argparse.Namespace, m: Measured) -> bool:
    floor_s = (args.pages / len(HOSTS)) * args.delay_ms / 1000
    print(f"{args.pages} pages over {len(HOSTS)} hosts, {args.latency_ms:.0f} ms server latency, "
          f"per_host_delay_s={args.delay_ms / 1000:.3f}; fetch + extract + MongoDB upsert per page")
    print(f"{'run':28s} {'seconds':>8s} {'pages/s':>8s}")
    print(f"{'sequential (1 worker)':28s} {m.sequential_s:8.2f} {args.pages / m.sequential_s:8.1f}")
    print(f"{f'thread pool ({args.workers} workers)':28s} {m.pooled_s:8.2f} {args.pages / m.pooled_s:8.1f}")
    print(f"speed-up: {m.sequential_s / m.pooled_s:.2f}x; the per-host delay alone keeps the pool at "
          f">= {floor_s:.2f} s (<= {args.pages / floor_s:.0f} pages/s)")
    # The limiter spaces the starts of requests; the server sees each after a variable send delay
    # (thread scheduling, the GIL), so single gaps jitter. What a host feels, the count within a
    # window, cannot exceed WINDOW_GAPS + 1 unless the limiter fails (or jitter exceeds the delay).
    allowed = WINDOW_GAPS + 1
    holds = m.most_in_window <= allowed
    print(f"per-host limit in the pool run (server side): gap between two requests to one host "
          f"min {min(m.gaps_s) * 1000:.1f} ms, median {statistics.median(m.gaps_s) * 1000:.1f} ms, "
          f"lowest per-host mean {m.lowest_mean_gap_s * 1000:.1f} ms; per_host_delay_s {args.delay_ms:.1f} ms")
    print(f"most requests to one host in any {WINDOW_GAPS} x delay window: {m.most_in_window} "
          f"(the delay allows {allowed}) -> {'holds' if holds else 'VIOLATED'}")
    return holds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server delay of every answer")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="per_host_delay_s of the crawler")
    args = parser.parse_args()
    logging.getLogger("readability").setLevel(logging.WARNING)  # its per-page notes drown the table
    with tempfile.TemporaryDirectory(prefix="ragdag-bench-crawl-") as tmp:
        # Airflow (which looks up the mongo_default connection) must not touch a real home.
        os.environ["AIRFLOW_HOME"] = str(Path(tmp) / "airflow")
        measured = measure(args, Path(tmp))
    return 0 if report(args, measured) else 1


if __name__ == "__main__":
    raise SystemExit(main())
