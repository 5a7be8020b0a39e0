"""Load and statistics for the benchmarks in bench/: timed keep-alive clients, percentiles.

`run_load` posts prepared (already signed) requests over N keep-alive connections and
keeps every sample; `failures` describes the wrong ones; `percentile`, `ms` and `mb`
format the figures. Only 127.0.0.1 is ever contacted; every socket has a timeout.
"""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench._common import SLACK_PATH


@dataclass(frozen=True)
class Prepared:
    """One HTTP request built (and signed) before timing starts."""

    body: bytes
    headers: dict[str, str]
    kind: str = ""
    expect: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One timed request: latency in seconds and what came back (or the client error)."""

    request: Prepared
    latency: float
    status: int = 0
    content_type: str = ""
    body: bytes = b""
    error: str = ""


@dataclass
class Run:
    """The samples of a load run against one server."""

    samples: list[Sample] = field(default_factory=list)
    elapsed: float = 0.0

    def extend(self, other: Run) -> None:
        self.samples.extend(other.samples)
        self.elapsed += other.elapsed

    def latencies(self, kind: str | None = None) -> list[float]:
        return [
            s.latency
            for s in self.samples
            if not s.error and (kind is None or s.request.kind == kind)
        ]


def run_load(
    port: int,
    requests: Sequence[Prepared],
    *,
    concurrency: int,
    path: str = SLACK_PATH,
    timeout: float = 10.0,
) -> Run:
    """POST every request over `concurrency` keep-alive connections, one thread each.

    Threads take the next request from a shared counter as soon as they are free, so at
    most `concurrency` requests are in flight. Connections are opened before the clock
    starts and re-opened after a failure.
    """
    samples: list[Sample | None] = [None] * len(requests)
    counter = itertools.count()
    start = threading.Barrier(concurrency + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.connect()
        finally:
            start.wait()
        try:
            while (i := next(counter)) < len(requests):
                samples[i] = _post(conn, path, requests[i])
        finally:
            conn.close()

    threads = [
        threading.Thread(target=client, name=f"client-{n}", daemon=True) for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout * len(requests))
    elapsed = time.perf_counter() - began
    missing = sum(1 for s in samples if s is None)
    if missing:
        raise RuntimeError(f"{missing} request(s) never completed on port {port}")
    return Run([s for s in samples if s is not None], elapsed)


def _post(conn: http.client.HTTPConnection, path: str, request: Prepared) -> Sample:
    """One timed POST; a client error closes the connection (the next request reconnects)."""
    began = time.perf_counter()
    try:
        conn.request("POST", path, body=request.body, headers=request.headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return Sample(request, time.perf_counter() - began, error=repr(exc))
    return Sample(
        request,
        time.perf_counter() - began,
        status=response.status,
        content_type=response.getheader("Content-Type") or "",
        body=body,
    )


Check = Callable[[Sample], str | None]
"""Returns why a response is wrong, or None when it is right."""


def failures(run: Run, check: Check) -> list[str]:
    """Every wrong response of a run, described (client errors included)."""
    problems = []
    for sample in run.samples:
        why = sample.error or check(sample)
        if why:
            problems.append(f"{sample.request.kind or 'request'}: {why}")
    return problems


# Statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=1000, method="inclusive")
    return cuts[min(max(round(pct * 10) - 1, 0), len(cuts) - 1)]


def ms(seconds: float) -> str:
    """Seconds as milliseconds with a precision that suits the size."""
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def mb(kib: int) -> str:
    """KiB as whole megabytes (MiB)."""
    return f"{kib / 1024:.0f}"
