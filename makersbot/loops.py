"""The background loops of a `serve` or `worker` process, one object per loop.

`app.build()` only wires the bot: nothing runs until `Background.start()`. Each loop is one
daemon thread that does a round of work and then waits, for a nudge (a message published, a
delivery stored), for its interval, or for `stop()`. A round that fails is logged and the
next round tries again: the rows keep their state. The console and the tests call a loop's
`run_once()` in their own thread instead of starting it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from makersbot.health import Heartbeat, heartbeat_seconds
from makersbot.outbox import SlackSender
from makersbot.preflight import SlackAuth, slack_auth
from makersbot.retention import PRUNE_EVERY_SECONDS, Retention, RetentionPeriods
from makersbot.scheduler import Scheduler
from makersbot.services.deliveries import DeliveryService
from makersbot.store import deliveries as delivery_store

if TYPE_CHECKING:
    from makersbot.app import Bot

log = logging.getLogger(__name__)

# Slack calls one sender process makes at once, each in its own channel: a Slack call takes
# 0.1-0.5 s, so one after another a process could not keep ten channels at their pace.
SEND_PARALLEL = 8


class Runnable(Protocol):
    """What `Background` starts and stops."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float) -> None: ...


class Loop:
    """A round of work on a daemon thread, repeated until `stop()`."""

    name = "loop"
    # What the log says failed, as in "outbox sender round failed".
    what = "background"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> object:
        """One round of work, in the caller's thread."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end after its current round; `join` waits for it."""
        self._stopping.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        raise NotImplementedError

    def _round(self) -> None:
        try:
            self.run_once()
        except Exception:  # keep the loop alive; the rows keep their state for a retry
            log.exception("%s round failed", self.what)


class OutboxLoop(Loop):
    """Sends the outbox to Slack as soon as something is published.

    `parallel`: how many channels' calls one round makes at once (1, the console's: one
    after another, in a repeatable order). `serve` and `worker` make up to SEND_PARALLEL.
    """

    name = "outbox"
    what = "outbox sender"

    def __init__(
        self,
        sender: SlackSender,
        published: threading.Event,
        poll_seconds: float = 0.5,
        *,
        parallel: int = 1,
    ) -> None:
        super().__init__()
        self.sender = sender
        self._published = published
        self._poll_seconds = poll_seconds
        self.parallel = parallel

    def run_once(self) -> int:
        return self.sender.drain(parallel=self.parallel)

    def stop(self) -> None:
        super().stop()
        self._published.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._round()
            # A paced channel opens, or a backoff or Retry-After ends, within the poll: sleep
            # until then, not on every nudge. A reply whose parent another process posts, or
            # a message another process publishes, comes due on the next poll.
            soonest = self.sender.next_due()
            if soonest is not None and soonest < self._poll_seconds:
                self._stopping.wait(soonest)
            else:
                self._published.wait(self._poll_seconds)
            self._published.clear()


class DeliveryLoop(Loop):
    """Processes stored webhook deliveries, a burst at a time."""

    name = "deliveries"
    what = "delivery processing"

    def __init__(self, deliveries: DeliveryService, stored: threading.Event) -> None:
        super().__init__()
        self.deliveries = deliveries
        self._stored = stored

    def run_once(self) -> int:
        return self.deliveries.process_pending()

    def stop(self) -> None:
        super().stop()
        self._stored.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._round()
            if self._stored.wait(0.5):
                self._settle_burst()
            self._stored.clear()

    def _settle_burst(self, quiet: float = 0.05, longest: float = 1.0) -> None:
        """Let a burst of deliveries finish arriving before processing it.

        Answering GitHub and Trello quickly matters more than starting at once: Slack takes
        about one post a second per channel anyway, and a burst processed together makes
        fewer summary updates. Waits until deliveries pause for `quiet` seconds, at most
        `longest` seconds in all.
        """
        deadline = time.monotonic() + longest
        while time.monotonic() < deadline and not self._stopping.is_set():
            self._stored.clear()
            if not self._stored.wait(quiet):
                return


class IntervalLoop(Loop):
    """Runs `work` every `interval` seconds, the first time after one interval."""

    def __init__(self, name: str, what: str, work: Callable[[], object], interval: float) -> None:
        super().__init__()
        self.name, self.what = name, what
        self._work = work
        self.interval = interval

    def run_once(self) -> object:
        return self._work()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self._round()


class HeartbeatLoop(IntervalLoop):
    """Beats this process's heartbeat for /healthz: once as it starts, then every interval;
    a clean stop removes it."""

    def __init__(self, heartbeat: Heartbeat, interval: float) -> None:
        super().__init__("heartbeat", "heartbeat", heartbeat.beat, interval)
        self.heartbeat = heartbeat

    def start(self) -> None:
        self._round()  # /healthz sees this process from the moment it starts
        super().start()

    def join(self, timeout: float) -> None:
        super().join(timeout)
        try:
            self.heartbeat.forget()
        except Exception:  # noqa: BLE001 - the heartbeat goes stale by itself anyway
            log.warning("could not remove this process's heartbeat")


class SchedulerLoop:
    """The weekly digest on APScheduler's threads, with the catch-up of a missed run.

    Only `serve` or `worker` runs it, never every web worker: see `makersbot/scheduler.py`.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def join(self, timeout: float) -> None:
        """Nothing to wait for: the shutdown above does not wait for a running digest."""


class Background:
    """The loops one process runs; started in order and stopped in reverse."""

    def __init__(self, loops: Sequence[Runnable]) -> None:
        self.loops = list(loops)

    @classmethod
    def for_bot(
        cls, bot: Bot, *, scheduler: bool = True, auth: SlackAuth | None = None
    ) -> Background:
        """Every loop of `serve` and `worker`; `scheduler=False` leaves out the digest and
        retention. `auth` is the start-up `auth.test` answer, for the first heartbeat."""
        settings = bot.settings
        heartbeat = Heartbeat(
            bot.db,
            clock=bot.clock,
            first_auth=auth,
            check_token=(lambda: slack_auth(settings)) if settings.slack_enabled else None,
        )
        loops: list[Runnable] = [
            HeartbeatLoop(heartbeat, heartbeat_seconds(settings.health_worker_stale_seconds)),
            OutboxLoop(bot.sender, bot.outbox_published, parallel=SEND_PARALLEL),
            DeliveryLoop(bot.deliveries, bot.deliveries_stored),
            # Checked often, polled per link only when POLL_INTERVAL has passed for it.
            IntervalLoop(
                "poller", "polling", bot.links.poll_due, min(30.0, bot.settings.poll_interval / 2)
            ),
            # A digest's chart goes into its thread once Slack has the digest message.
            IntervalLoop("charts", "chart upload", bot.digest.upload_pending_charts, 5.0),
        ]
        if scheduler:
            digests = Scheduler(bot.db, bot.digest.schedule, bot.digest, clock=bot.clock)
            loops.append(SchedulerLoop(digests))
            retention = Retention(bot.db, RetentionPeriods.from_settings(settings), clock=bot.clock)
            loops.append(IntervalLoop("retention", "pruning", retention.prune, PRUNE_EVERY_SECONDS))
        return cls(loops)

    def start(self) -> None:
        for loop in self.loops:
            loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every loop and wait up to `timeout` seconds for each to end."""
        for loop in reversed(self.loops):
            loop.stop()
        for loop in self.loops:
            loop.join(timeout)


def recover_after_restart(bot: Bot) -> None:
    """For a process starting up: free the delivery claims an earlier run left.

    Message claims are left alone: another worker may hold them live. A claim whose holder
    died runs out with its lease (30 s) and the next sender takes it over, looking
    for the post in the channel's history first, so a post made just before a crash is
    edited, not repeated (see makersbot/outbox.py).
    """
    with bot.db.session() as session:
        delivery_store.release_claims(session)
