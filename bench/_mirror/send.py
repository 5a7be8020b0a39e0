"""The client side of the mirror benchmark: the deliveries posted in bursts, every answer timed.

Client n of a burst sends the items of lane n, each item's deliveries in order, so an
item's deliveries are acknowledged in the order they happened.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench._mirror.layout import Delivery, Item


@dataclass(frozen=True)
class Ack:
    """The answer to one delivery: status, body, and when the 2xx was read (time.time())."""

    delivery: Delivery
    status: int
    body: bytes
    at: float
    latency: float
    error: str = ""


@dataclass
class Sent:
    """Every delivery's answer, and the seconds spent inside bursts."""

    acks: list[Ack] = field(default_factory=list)
    busy: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server's processes spent meanwhile; 0: unknown

    @property
    def rate(self) -> float:
        return len(self.acks) / self.busy if self.busy else float("nan")

    @property
    def span(self) -> float:
        """Seconds from the first 2xx to the last, pauses included."""
        return max(a.at for a in self.acks) - min(a.at for a in self.acks) if self.acks else 0.0


def _send_lane(port: int, deliveries: Sequence[Delivery], start: threading.Barrier) -> list[Ack]:
    """POST `deliveries` in order over one keep-alive connection, once `start` opens."""
    acks: list[Ack] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.connect()
    finally:
        start.wait()
    try:
        for delivery in deliveries:
            began = time.perf_counter()
            try:
                conn.request("POST", delivery.path, body=delivery.body, headers=delivery.headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # the next request reconnects
                ack = Ack(delivery, 0, b"", time.time(), time.perf_counter() - began, repr(exc))
                acks.append(ack)
                continue
            now = time.time()
            acks.append(Ack(delivery, response.status, body, now, time.perf_counter() - began))
    finally:
        conn.close()
    return acks


def send_burst(port: int, burst: Sequence[Delivery], items: Sequence[Item], lanes: int) -> Sent:
    """POST one burst from `lanes` keep-alive clients; client n sends the items of lane n,
    each item's deliveries in order, so they are stored in the order they happened."""
    by_lane: list[list[Delivery]] = [[] for _ in range(lanes)]
    for delivery in burst:
        by_lane[items[delivery.item].lane].append(delivery)
    acks: list[list[Ack]] = [[] for _ in range(lanes)]
    start = threading.Barrier(lanes + 1)

    def client(lane: int) -> None:
        acks[lane] = _send_lane(port, by_lane[lane], start)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(lanes)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(120)
    busy = time.perf_counter() - began
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"a client on port {port} did not finish its burst in 120 s")
    return Sent([ack for lane in acks for ack in lane], busy)


def send_all(
    port: int,
    bursts: Sequence[Sequence[Delivery]],
    items: Sequence[Item],
    *,
    lanes: int,
    pause: float,
    before_burst: Callable[[int], None] = lambda _n: None,
) -> Sent:
    """Every burst, with `pause` seconds between them (not counted in the rate)."""
    sent = Sent()
    for n, burst in enumerate(bursts):
        before_burst(n)
        one = send_burst(port, burst, items, lanes)
        sent.acks.extend(one.acks)
        sent.busy += one.busy
        if n < len(bursts) - 1:
            time.sleep(pause)
    return sent


def bad_acks(sent: Sent, expect: bytes) -> list[str]:
    """Answers that are not 200 with the expected body."""
    return [
        f"{ack.delivery.action}: {ack.error or f'{ack.status} {ack.body[:120]!r}'}"
        for ack in sent.acks
        if ack.error or ack.status != 200 or ack.body.strip() != expect
    ]
