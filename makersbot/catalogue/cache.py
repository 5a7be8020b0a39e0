"""A small cache of built pages, keyed by the catalogue's stamp.

Pages are rebuilt as soon as anything they show could have changed (a project edited, made
private, a new ledger entry or mirrored event: `store.catalogue_stamp`), and after `ttl`
seconds anyway, for what the stamp cannot see (a ledger entry attributed to a council
later, the quarter turning).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

T = TypeVar("T")


class PageCache:
    """Least-recently-used, thread-safe, with an age limit.

    Each page is kept in one version only (the catalogue's stamp when it was built): a new
    version replaces the old one at once. Kept side by side until the LRU dropped them, the
    old versions of the council league (hundreds of objects each) made every full garbage
    collection slower as they piled up (60-120 ms each): `/councils` busy p99 206-216 ms
    with a p50 of 51 ms, now 73 ms (bench/catalogue.py).
    """

    def __init__(self, size: int = 512, ttl: float = 300.0) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[Hashable, tuple[float, Hashable, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], T], *, version: Hashable = None) -> T:
        """The cached value for `key` at `version`, or `build()`'s, remembered in its place."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[1] == version and now - hit[0] < self._ttl:
                self._items.move_to_end(key)
                return cast(T, hit[2])
        value = build()  # outside the lock: two builds of one page at once are harmless
        with self._lock:
            self._items[key] = (now, version, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
