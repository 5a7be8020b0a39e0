"""A fake Slack that fails a share of the outbox's calls, as Slack does under load.

`FaultySlack` answers a given share (`rate`) of `chat.postMessage` and `chat.update` calls
with 429 (`Retry-After: 1`) or 503, chosen by a seeded generator, on top of the recording
fake in tests/fakes/slack.py. Failed calls change nothing in the fake's world (as with real
Slack for 429; a real 503 may have posted, which the sender's recovery covers separately).
Set `rate` once the set-up is done, so seeding never meets a fault.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from tests.fakes.slack import FakeSlack, _Reply

FAULTED = frozenset({"chat.postMessage", "chat.update"})


class FaultySlack(FakeSlack):
    """FakeSlack whose chat calls fail `rate` of the time (half 429, half 503)."""

    def __init__(self, rate: float = 0.0, seed: int = 20) -> None:
        super().__init__()
        self.rate = rate
        self._rng = random.Random(seed)
        self._faults_lock = threading.Lock()
        self.injected: Counter[int] = Counter()  # status -> how many were injected

    def _serve(self, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        method = raw_path.split("?", 1)[0].rsplit("/", 1)[-1]
        if method in FAULTED and self.rate > 0:
            with self._faults_lock:
                roll = self._rng.random()
                status = 429 if self._rng.random() < 0.5 else 503
            if roll < self.rate:
                self.injected[status] += 1
                retry_after = 1 if status == 429 else None
                self.fail_next(method, status=status, retry_after=retry_after)
        return super()._serve(raw_path, headers, body)
