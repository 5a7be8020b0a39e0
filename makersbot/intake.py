"""Group commit for webhook deliveries: many requests, one transaction.

Every delivery must be in the database before its 2xx is sent. Committing each one alone
made SQLite's single writer the limit of how fast GitHub and Trello could be answered
(bench/mirror.py); here the request threads hand their rows to one writer thread, which
inserts whatever has queued up in a single statement and commits once, then wakes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from makersbot.db import Database
from makersbot.store import deliveries as delivery_store

log = logging.getLogger(__name__)

MAX_BATCH = 500
WAIT_SECONDS = 15.0


class DeliveryIntake:
    """Stores deliveries durably, batching concurrent requests into one commit."""

    def __init__(self, db: Database, *, on_stored: Callable[[], None] | None = None) -> None:
        self.db = db
        self._on_stored = on_stored or (lambda: None)
        self._pending: list[tuple[dict[str, Any], Future[bool]]] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def store(self, values: dict[str, Any]) -> bool:
        """Write one delivery; returns once it is committed. False when it was seen before."""
        future: Future[bool] = Future()
        with self._lock:
            self._start()
            self._pending.append((values, future))
            self._lock.notify()
        return future.result(timeout=WAIT_SECONDS)

    def _start(self) -> None:
        # Started on first use, so that a forked gunicorn worker gets its own thread.
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                new = self._insert([values for values, _ in batch])
            except Exception as exc:  # the database is down: every waiting request fails
                log.exception("could not store %s deliveries", len(batch))
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self._on_stored()
            claimed: set[tuple[str, str]] = set()
            for values, future in batch:
                key = (values["source"], values["delivery_id"])
                future.set_result(key in new and key not in claimed)
                claimed.add(key)

    def _insert(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        with self.db.session() as session:
            return delivery_store.insert_deliveries(session, deliveries=rows)
