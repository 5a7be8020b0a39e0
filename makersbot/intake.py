"""Group commit for webhook deliveries: many requests, one transaction, no extra thread.

Every delivery must be in the database before its 2xx is sent. Committing each one alone
made the database the limit of how fast GitHub and Trello could be answered
(bench/mirror.py). Here a request hands its row to `GroupCommit.submit`: if no commit is
under way, its own thread becomes the leader, takes every row that has queued up and writes
them in one transaction; requests that arrive meanwhile queue and wait. When the commit
ends, the leader wakes them: those in the batch return their answers, and one of those that
arrived later leads the next batch. No row is answered before its transaction committed; a
failed transaction answers every request in it with `IntakeUnavailable` (the route's 503),
and their rows are not in the database, so nothing acknowledged is lost.

The webhook intake writes each batch as one statement (`single_statement=True`): on
PostgreSQL that statement commits by itself, with no BEGIN or COMMIT round trip around it,
and if it fails nothing of the batch is stored, as with a transaction.

A leader, not a writer thread: a dedicated thread cost two more hand-overs of the GIL per
batch, and a thread started in the gunicorn master does not survive the fork.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from makersbot.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 500
WAIT_SECONDS = 15.0
# While requests keep coming together (the last batch held more than one), a leader waits
# this long before taking its batch: the requests being verified in other threads join it,
# and a transaction costs about as much for eight rows as for one (8 concurrent requests in
# process: batches of 3 became batches of 6, for ~10% less CPU per delivery).
LINGER = 0.001


class IntakeUnavailable(Exception):
    """The transaction that held this request's row failed: nothing of it was stored."""


# What storing a delivery raises when the database, not the sender, is at fault: the route
# answers 503 with Retry-After, so that GitHub and Trello try again later.
STORE_FAILURES = (SQLAlchemyError, TimeoutError, IntakeUnavailable)
RETRY_AFTER_SECONDS = 30


_QUEUED, _TAKEN, _LEADING, _DONE = range(4)


class _Entry(Generic[T, R]):
    """One caller's item; `wake` is held until the caller must act (lead, or return)."""

    __slots__ = ("item", "state", "result", "error", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.state = _QUEUED
        self.result: R | None = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


# Writes a batch on the connection, in one transaction (or as one statement, see
# `single_statement`): one result per item, in order.
Write = Callable[[Connection, Sequence[T]], Sequence[R]]


class GroupCommit(Generic[T, R]):
    """Writes items through `write`, batching concurrent callers into one commit.

    Each waiting caller sleeps on a lock of its own: a commit wakes only the callers whose
    items it held, and the one caller that leads the next batch.
    """

    def __init__(
        self,
        db: Database,
        write: Write[T, R],
        *,
        after_commit: Callable[[], None] | None = None,
        max_batch: int = MAX_BATCH,
        wait: float = WAIT_SECONDS,
        single_statement: bool = False,
    ) -> None:
        self.db = db
        # Whether `write` makes one statement of its batch: then on PostgreSQL it runs
        # without a transaction around it (`Database.single_statement`), one round trip.
        self._connect = db.single_statement if single_statement else db.transaction
        self._write = write
        self._after_commit = after_commit or (lambda: None)
        self.max_batch = max_batch
        self.wait = wait
        self._mutex = threading.Lock()
        self._queue: list[_Entry[T, R]] = []
        self._committing = False
        self._last_batch = 0

    @property
    def queued(self) -> int:
        """Items waiting for a transaction (not those of the one under way)."""
        with self._mutex:
            return len(self._queue)

    @property
    def committing(self) -> bool:
        """Whether a batch's transaction is under way."""
        return self._committing

    def submit(self, item: T) -> R:
        """Write `item`; returns its result once its transaction has committed.

        Raises IntakeUnavailable when that transaction failed, TimeoutError when it was not
        committed within `wait` seconds (a 503 for a row that may yet be stored is safe:
        the sender tries again, and the copy is a duplicate).
        """
        entry: _Entry[T, R] = _Entry(item)
        with self._mutex:
            self._queue.append(entry)
            if not self._committing:
                self._committing = True
                entry.state = _LEADING
        if entry.state != _LEADING:
            self._await(entry)
        if entry.state == _LEADING:
            self._lead(entry)
        if entry.error is not None:
            raise IntakeUnavailable("the delivery could not be stored") from entry.error
        return entry.result  # type: ignore[return-value]  # set when done without error

    def _await(self, entry: _Entry[T, R]) -> None:
        """Sleep until `entry` is done or this caller must lead the next batch."""
        if entry.wake.acquire(timeout=self.wait):
            return
        with self._mutex:
            if entry.state == _QUEUED:  # no batch took it: withdrawn, never written
                self._queue.remove(entry)
            if entry.state in (_QUEUED, _TAKEN):
                raise TimeoutError("the delivery was not stored in time")

    def _lead(self, entry: _Entry[T, R]) -> None:
        """Commit batches until `entry`'s is done, then hand over to the next caller."""
        try:
            while entry.state != _DONE:  # more may have queued than one batch holds
                if self._last_batch > 1:
                    time.sleep(LINGER)
                with self._mutex:
                    batch = self._queue[: self.max_batch]
                    self._queue = self._queue[self.max_batch :]
                    for taken in batch:
                        taken.state = _TAKEN
                    self._last_batch = len(batch)
                self._commit(batch)
        finally:
            with self._mutex:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._committing = False
                else:
                    successor.state = _LEADING
            if successor is not None:
                successor.wake.release()

    def _commit(self, batch: list[_Entry[T, R]]) -> None:
        """One transaction for `batch`; every caller in it learns the outcome."""
        committed = False
        try:
            with self._connect() as connection:
                results = list(self._write(connection, [entry.item for entry in batch]))
                if len(results) != len(batch):  # rolled back: a bug, not half an answer
                    raise ValueError(f"{len(results)} results for {len(batch)} items")
            committed = True
            for entry, result in zip(batch, results, strict=True):
                entry.result = result
        except BaseException as exc:  # every caller in the batch is told, none gets a 2xx
            if isinstance(exc, Exception):
                log.exception("could not store %s deliveries", len(batch))
            for entry in batch:
                entry.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._mutex:
                for entry in batch:
                    entry.state = _DONE
            for entry in batch:
                entry.wake.release()
        if committed:
            self._after_commit()
