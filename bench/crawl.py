"""Crawl throughput: one host at a time versus hosts in parallel, with the per-host gap held.

Generated article pages are served on loopback under eight host names (127.0.0.1 … 127.0.0.8, each
its own server: distinct hosts to the crawler), each answer delayed to mimic network latency. The
same pages are crawled by the real crawl stage (plan grouped by host, fetch, extract, MongoDB upsert
on the embedded server) once with one worker (every host after the other, as a single task would)
and once with one worker per host (as the mapped ``crawl`` tasks of ``crawl_sources`` run, up to 8
at once), each into its own database. With the per-host delay the main cost, the parallel run is
bounded by one host's share of the pages. Printed: pages/s of both and ``ratio=`` their speed-up,
robots.txt requests per host, and the smallest gap the server saw between two requests to one host
next to ``per_host_delay_s`` (no run may beat it).

    .venv/bin/python bench/crawl.py [--pages-per-host 6] [--workers 8] [--latency-ms 20] [--delay-ms 250]
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

HOSTS = tuple(f"127.0.0.{n}" for n in range(1, 9))
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
        self.robots: dict[str, int] = defaultdict(int)

    def record(self, host: str, path: str) -> None:
        with self._lock:
            self.at[host].append(time.monotonic())
            if path == "/robots.txt":
                self.robots[host] += 1

    def clear(self) -> None:
        with self._lock:
            self.at.clear()
            self.robots.clear()

    def gaps_s(self) -> list[float]:
        return [b - a for times in self.at.values() for a, b in pairwise(sorted(times))]

    def robots_per_host(self) -> dict[str, int]:
        return dict(self.robots)

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
            requests.record(self.headers.get("Host", "").rsplit(":", 1)[0], self.path)
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
    """One server per loopback address; yields the port of each host."""
    with ExitStack() as stack:
        ports = {}
        for address in HOSTS:
            server = QuietServer((address, 0), handler_class(requests, latency_s))
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            ports[address] = server.server_address[1]
        yield ports


def crawl(settings, targets, workers: int) -> float:
    """Seconds to crawl ``targets`` with ``workers`` hosts at a time (each host's pages in order,
    one thread per host as one mapped task per host); every page must end up stored."""
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
    sequential_gaps_s: list[float]
    lowest_mean_gap_s: float
    most_in_window: int
    robots_per_host: dict[str, int]  # pool run


def measure(args: argparse.Namespace, tmp: Path) -> Measured:
    from ragdag.crawling.sources.crawl_plan import CrawlTarget
    from ragdag.settings import Settings

    requests = Requests()
    pages = args.pages_per_host * len(HOSTS)
    with embedded_mongodb(tmp / "data"), serve(requests, args.latency_ms / 1000) as ports:
        hosts = [HOSTS[n % len(HOSTS)] for n in range(pages)]  # interleaved, as a sources file lists them
        targets = [
            CrawlTarget(author_full_name="Bench Author", url=f"http://{host}:{ports[host]}/post-{n}.html")
            for n, host in enumerate(hosts)
        ]
        base = Settings(
            data_dir=tmp / "data",
            allow_private_networks=True,
            http_timeout_s=30.0,
            per_host_delay_s=args.delay_ms / 1000,
        )
        # Imports, the extractor's first call and the MongoDB connection are paid before timing.
        warm = [CrawlTarget(author_full_name="Bench Author", url=f"http://{HOSTS[0]}:{ports[HOSTS[0]]}/post-9999.html")]
        crawl(base.model_copy(update={"mongo_database": "bench_warmup", "per_host_delay_s": 0.0}), warm, 1)
        requests.clear()
        # Each run into its own database: the second must not find the first's pages stored.
        sequential_s = crawl(base.model_copy(update={"mongo_database": "bench_sequential"}), targets, 1)
        sequential_gaps = requests.gaps_s()
        requests.clear()
        pooled_s = crawl(base.model_copy(update={"mongo_database": "bench_pool"}), targets, args.workers)
    window_s = WINDOW_GAPS * base.per_host_delay_s
    return Measured(
        sequential_s,
        pooled_s,
        requests.gaps_s(),
        sequential_gaps,
        requests.mean_gap_s(),
        requests.most_in_window(window_s),
        requests.robots_per_host(),
    )


def report(args: argparse.Namespace, m: Measured) -> bool:
    pages = args.pages_per_host * len(HOSTS)
    delay_s = args.delay_ms / 1000
    floor_s = args.pages_per_host * delay_s  # robots.txt, then one page per delay
    print(
        f"{pages} pages over {len(HOSTS)} hosts, {args.latency_ms:.0f} ms server latency, "
        f"per_host_delay_s={delay_s:.3f}; plan by host + fetch + extract + MongoDB upsert per page"
    )
    print(f"{'run':34s} {'seconds':>8s} {'pages/s':>8s}")
    print(f"{'one host at a time (1 worker)':34s} {m.sequential_s:8.2f} {pages / m.sequential_s:8.1f}")
    print(f"{f'hosts in parallel ({args.workers} workers)':34s} {m.pooled_s:8.2f} {pages / m.pooled_s:8.1f}")
    ratio = m.sequential_s / m.pooled_s
    print(
        f"ratio={ratio:.2f} (hosts in parallel over one at a time; target >= 4); the per-host delay "
        f"alone keeps the parallel run at >= {floor_s:.2f} s"
    )
    # The limiter counts the delay from the last answer, so even the arrival times the server
    # stamps are a full delay apart; and no window of WINDOW_GAPS delays holds more requests.
    allowed = WINDOW_GAPS + 1
    smallest = min(min(m.gaps_s), min(m.sequential_gaps_s))
    gap_holds = smallest >= delay_s and m.most_in_window <= allowed
    robots_once = set(m.robots_per_host.values()) == {1} and len(m.robots_per_host) == len(HOSTS)
    print(
        f"per-host gap (server side, both runs): min {smallest * 1000:.1f} ms, median (parallel) "
        f"{statistics.median(m.gaps_s) * 1000:.1f} ms, lowest per-host mean {m.lowest_mean_gap_s * 1000:.1f} ms; "
        f"per_host_delay_s {args.delay_ms:.1f} ms -> {'holds' if gap_holds else 'VIOLATED'}"
    )
    print(f"most requests to one host in any {WINDOW_GAPS} x delay window: {m.most_in_window} (allowed {allowed})")
    print(
        f"robots.txt requests per host (parallel run): {sorted(set(m.robots_per_host.values()))} "
        f"-> {'once each' if robots_once else 'NOT once'}"
    )
    return gap_holds and robots_once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages-per-host", type=int, default=6)
    parser.add_argument("--workers", type=int, default=8, help="hosts crawled at once (max_active_tis_per_dag)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server delay of every answer")
    parser.add_argument("--delay-ms", type=float, default=250.0, help="per_host_delay_s of the crawler")
    args = parser.parse_args()
    logging.getLogger("readability").setLevel(logging.WARNING)  # its per-page notes drown the table
    with tempfile.TemporaryDirectory(prefix="ragdag-bench-crawl-") as tmp:
        # Airflow (which looks up the mongo_default connection) must not touch a real home.
        os.environ["AIRFLOW_HOME"] = str(Path(tmp) / "airflow")
        measured = measure(args, Path(tmp))
    return 0 if report(args, measured) else 1


if __name__ == "__main__":
    raise SystemExit(main())
