"""Honest health: what `GET /healthz` answers, and the heartbeat that lets it tell.

`/healthz` answers 200 only when the bot is doing its job, and 503 with a `reason` when:

- the database cannot be reached (`"database": "error"`);
- Slack refused the bot token at the last check of a live `serve` or `worker` process (each
  asks `auth.test` when it starts and every `SLACK_RECHECK_SECONDS` after; a probe never calls
  Slack, it reads the answer from the heartbeat table, so every process sees it);
- a channel is parked (the outbox stopped posting there after a permanent error);
- the oldest message due to be sent has waited longer than HEALTH_OUTBOX_LATE_SECONDS;
- no `serve` or `worker` process has beaten its heartbeat for HEALTH_WORKER_STALE_SECONDS
  (after a grace period as long as that, from the moment this process started, so that a
  `web` process starting beside its worker is not reported dead while the worker starts).

The JSON keeps the fields it always had (`status`, `database`, `outbox_depth`,
`last_scheduler_run`) and adds `reason` only when the answer is 503.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from makersbot.db import Database
from makersbot.preflight import SlackAuth
from makersbot.store import health as health_store
from makersbot.store import heartbeat as heartbeat_store
from makersbot.store import outbox as outbox_store
from makersbot.store import outbox_gates
from makersbot.store.models import utcnow

if TYPE_CHECKING:
    from makersbot.app import Bot

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# How often a live process asks Slack again whether it still accepts the token.
SLACK_RECHECK_SECONDS = 300.0


def parked_channels(session: Session) -> list[str]:
    """Channels whose messages the outbox has parked after a permanent Slack error."""
    return [parked.channel for parked in outbox_gates.parked_channels(session)]


def heartbeat_seconds(stale_seconds: float) -> float:
    """How often a process beats: four beats per stale period, between 1 s and 15 s."""
    return max(1.0, min(15.0, stale_seconds / 4))


class HealthCheck:
    """Builds the answer of `GET /healthz`: (HTTP status, JSON body)."""

    def __init__(
        self,
        db: Database,
        *,
        outbox_late: timedelta,
        worker_stale: timedelta,
        clock: Clock = utcnow,
        parked: Callable[[Session], Sequence[str]] = parked_channels,
    ) -> None:
        self.db = db
        self.outbox_late = outbox_late
        self.worker_stale = worker_stale
        self.clock = clock
        self.parked = parked
        self.started = clock()

    @classmethod
    def for_bot(cls, bot: Bot) -> HealthCheck:
        """The check with the thresholds of the bot's settings."""
        s = bot.settings
        return cls(
            bot.db,
            outbox_late=timedelta(seconds=s.health_outbox_late_seconds),
            worker_stale=timedelta(seconds=s.health_worker_stale_seconds),
            clock=bot.clock,
        )

    def report(self) -> tuple[int, dict[str, object]]:
        """200 and the usual fields when all is well; 503 with a `reason` otherwise."""
        now = self.clock()
        try:
            with self.db.session(read_only=True) as session:
                depth = outbox_store.depth(session)
                last_run = health_store.last_scheduler_run(session)
                reasons = self._reasons(session, now)
        except Exception:  # noqa: BLE001 - any failure means the database is not usable
            log.warning("health check: database unreachable")
            return 503, {
                "status": "error",
                "database": "error",
                "outbox_depth": None,
                "last_scheduler_run": None,
                "reason": "the database cannot be reached",
            }
        body: dict[str, object] = {
            "status": "error" if reasons else "ok",
            "database": "ok",
            "outbox_depth": depth,
            "last_scheduler_run": last_run.isoformat() if last_run else None,
        }
        if reasons:
            body["reason"] = "; ".join(reasons)
            return 503, body
        return 200, body

    def _reasons(self, session: Session, now: datetime) -> list[str]:
        reasons: list[str] = []
        rejected = heartbeat_store.token_rejection(session, since=now - self.worker_stale)
        if rejected:
            reasons.append(rejected)
        parked = list(self.parked(session))
        if parked:
            shown = ", ".join(parked[:5]) + (" …" if len(parked) > 5 else "")
            reasons.append(f"{len(parked)} channel(s) parked: {shown}")
        oldest = outbox_store.oldest_pending(session, now=now)
        if oldest is not None and now - oldest > self.outbox_late:
            waited = int((now - oldest).total_seconds())
            reasons.append(
                f"the outbox is late: a message has waited {waited} s "
                f"(more than {int(self.outbox_late.total_seconds())} s)"
            )
        beat = heartbeat_store.last_beat(session)
        stale = int(self.worker_stale.total_seconds())
        if now - self.started > self.worker_stale:
            if beat is None:
                reasons.append("no worker is running: no serve or worker process has a heartbeat")
            elif now - beat > self.worker_stale:
                reasons.append(f"no worker heartbeat for more than {stale} s")
        return reasons


class Heartbeat:
    """This process's heartbeat, and the token check it carries.

    `beat()` runs every `heartbeat_seconds(...)` on a loop of `serve` and `worker`
    (`makersbot/loops.py`). The result of the start-up `auth.test` goes into the first beat;
    after that, every `recheck` seconds, `check_token` asks Slack again. An answer that is not
    a verdict (Slack unreachable) keeps the last verdict.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utcnow,
        first_auth: SlackAuth | None = None,
        check_token: Callable[[], SlackAuth] | None = None,
        recheck: float = SLACK_RECHECK_SECONDS,
    ) -> None:
        self.db = db
        self.clock = clock
        self._pending = first_auth
        self._check_token = check_token
        self._recheck = recheck
        self._checked = time.monotonic()
        self._process: str | None = None

    @property
    def process(self) -> str:
        """host:pid, read on first use: a forked gunicorn worker has its own pid."""
        if self._process is None:
            self._process = f"{socket.gethostname()}:{os.getpid()}"[:200]
        return self._process

    def beat(self) -> None:
        """Record that this process is alive (and what Slack last said of the token)."""
        auth = self._take_auth()
        now = self.clock()
        verdict = auth is not None and (auth.ok or auth.rejected)
        with self.db.session() as session:
            heartbeat_store.beat(
                session,
                process=self.process,
                at=now,
                slack_checked_at=now if verdict else None,
                slack_rejected=auth.line if auth is not None and auth.rejected else None,
            )
        if auth is not None and auth.rejected:
            log.error("%s", auth.line)

    def forget(self) -> None:
        """Remove this process's heartbeat (it is stopping cleanly)."""
        with self.db.session() as session:
            heartbeat_store.forget(session, process=self.process)

    def _take_auth(self) -> SlackAuth | None:
        if self._pending is not None:
            auth, self._pending = self._pending, None
            return auth
        if self._check_token is None or time.monotonic() - self._checked < self._recheck:
            return None
        self._checked = time.monotonic()
        return self._check_token()
