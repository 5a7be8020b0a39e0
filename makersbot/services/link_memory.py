"""What the webhook intake reads of the links, remembered per process for a moment.

Every delivery needs to know which key may sign it (a GitHub hook's own secret, by
X-GitHub-Hook-ID) and every batch which repositories and boards links mirror. Reading them
for each was a round trip per delivery and one per batch, most of what accepting a
delivery cost on PostgreSQL (bench/mirror.py, Procfile topology).

Memory may only ever let a delivery in, never keep one out, and only for `ttl` seconds:
- A refusal is never taken from memory. A signature that does not verify with a
  remembered key is checked again with the key read afresh, and a scope answer that
  would refuse (403, "not linked") is read afresh first. So a link made or re-keyed in
  another process a moment ago never loses a delivery.
- A link removed, or given keys of its own, in another process can let deliveries its old
  key signed in for up to `ttl` seconds, as if they had arrived that much earlier (the
  processor finds no link for them and drops them).
- A link written in this process empties the memory at once (`link_store.link_changes`).
- Only what a link says is remembered, never that nothing links something.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlmodel import Session

from makersbot.store import links as link_store

# How long a process trusts what it read of the links.
LINKED_TTL = 1.0

K = TypeVar("K")
V = TypeVar("V")


class _Memory(Generic[K, V]):
    """Values read from the links, each trusted for `ttl` seconds after it was read."""

    def __init__(self, ttl: float = LINKED_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[K, tuple[V, float]] = {}
        self._changes = link_store.link_changes()

    def _recall(self, keys: list[K]) -> tuple[dict[K, V] | None, int, float]:
        """(every key's value if all are remembered and fresh, else None; the link-change
        count to read under; now)."""
        now = self._clock()
        with self._lock:
            if self._changes != link_store.link_changes():
                self._known.clear()
                self._changes = link_store.link_changes()
            known = {key: self._known.get(key) for key in keys}
            if all(v is not None and now - v[1] <= self.ttl for v in known.values()):
                return {key: v[0] for key, v in known.items() if v is not None}, self._changes, now
            return None, self._changes, now

    def _keep(self, found: dict[K, V], asked: list[K], changes: int, now: float) -> None:
        """Remember what was read for `asked` (and forget those with nothing found), unless
        this process wrote a link while it was being read."""
        with self._lock:
            if changes != link_store.link_changes():
                return
            for key in asked:
                if key in found:
                    self._known[key] = (found[key], now)
                else:
                    self._known.pop(key, None)


class LinkedTargets(_Memory[tuple[str, str], bool]):
    """Which (source, repo or board) links mirror, each True when a link of it has no key
    of its own (`link_store.linked_keys`): the scope check of a webhook batch."""

    def lookup(
        self, connection: Connection, targets: set[tuple[str, str]], *, fresh: bool = False
    ) -> tuple[dict[tuple[str, str], bool], bool]:
        """(linked, remembered): `linked_keys` for `targets`, and whether it came from
        memory or from the database."""
        asked = sorted(targets)
        recalled, changes, now = self._recall(asked)
        if recalled is not None and not fresh:
            return recalled, True
        linked = link_store.linked_keys(connection, targets=targets)
        self._keep(linked, asked, changes, now)
        return linked, False


class HookKeys(_Memory[tuple[str, str], tuple[str, str]]):
    """A registered hook's (secret, target) by its id (`link_store.hook_key`)."""

    def lookup(
        self, session: Callable[[], Session], source: str, hook_id: str, *, fresh: bool = False
    ) -> tuple[tuple[str, str] | None, bool]:
        """(secret and target, or None; whether it came from memory)."""
        key = (source, hook_id)
        recalled, changes, now = self._recall([key])
        if recalled is not None and not fresh:
            return recalled[key], True
        hooked = link_store.hook_key(session(), source=source, webhook_id=hook_id)
        self._keep({key: hooked} if hooked else {}, [key], changes, now)
        return hooked, False
