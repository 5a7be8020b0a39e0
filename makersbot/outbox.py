"""The outbox: every message the bot shows in a channel is a row here first.

Services `publish` the desired state of a message under a stable key; the `SlackSender`
makes Slack match it (post once, then `chat.update` in place). Several changes before the
sender runs become one call, and nothing acknowledged is lost across a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func
from sqlmodel import Session, col, select

from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.store.models import SlackMessage, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Errors after which retrying the same call cannot succeed: log and stop trying.
PERMANENT_ERRORS = {
    "channel_not_found",
    "is_archived",
    "msg_too_long",
    "invalid_blocks",
    "invalid_blocks_format",
    "no_text",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "restricted_action",
    "cant_update_message",
}
METADATA_EVENT = "makersbot_message"
MAX_BACKOFF = timedelta(minutes=30)
# How long a claimed message is left to its sender before another may try it.
LEASE = timedelta(minutes=1)


@dataclass(frozen=True)
class _Job:
    """What the sender read from a claimed row."""

    key: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    pin: bool
    ts: str | None
    version: int
    thread_ts: str | None
    created_at: datetime
    recover: bool = False  # an earlier claim expired: it may have posted without recording


@dataclass
class _Sent:
    ts: str
    channel: str
    calls: int


class Outbox:
    """Records what a channel should show. Called by services inside their session."""

    def __init__(self, wake: Callable[[], None] | None = None, clock: Clock = utcnow) -> None:
        self._wake = wake or (lambda: None)
        self.clock = clock

    def publish(
        self,
        session: Session,
        *,
        key: str,
        channel: str,
        message: Message,
        pin: bool = False,
        thread_key: str | None = None,
    ) -> None:
        """Set the content of the message `key`; the sender posts or updates it soon."""
        row = session.exec(select(SlackMessage).where(SlackMessage.key == key)).first()
        now = self.clock()
        if row is None:
            row = SlackMessage(
                key=key,
                channel=channel,
                thread_key=thread_key,
                text=message.text,
                blocks=message.blocks or None,
                pin=pin,
                created_at=now,
                updated_at=now,
                next_attempt_at=now,
            )
        else:
            if row.text == message.text and row.blocks == (message.blocks or None):
                return  # nothing changed: no call to Slack
            row.text = message.text
            row.blocks = message.blocks or None
            row.version += 1
            row.updated_at = now
            row.next_attempt_at = min(row.next_attempt_at, now)
        session.add(row)
        session.flush()
        self.wake_after_commit(session)

    def wake_after_commit(self, session: Session) -> None:
        """Nudge an in-process sender once the session commits."""
        from sqlalchemy import event

        if not session.info.get("outbox_wake"):
            session.info["outbox_wake"] = True

            def _after_commit(_session: Any) -> None:
                session.info.pop("outbox_wake", None)
                self._wake()

            event.listen(session, "after_commit", _after_commit, once=True)

    def depth(self, session: Session) -> int:
        """How many messages wait to be sent (for /healthz)."""
        return int(
            session.exec(
                select(func.count())
                .select_from(SlackMessage)
                .where(col(SlackMessage.version) > col(SlackMessage.sent_version))
            ).one()
        )


class SlackSender:
    """Drains the outbox to Slack. Safe to run in several processes on PostgreSQL."""

    def __init__(
        self,
        db: Database,
        client: WebClient,
        *,
        clock: Clock = utcnow,
        per_channel_interval: float = 1.0,
        batch: int = 20,
    ) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self.per_channel_interval = per_channel_interval
        self.batch = batch
        self._last_post: dict[str, float] = {}
        self._wakeup = threading.Event()
        self._stop = threading.Event()

    def wake(self) -> None:
        self._wakeup.set()

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Send everything that is due now; returns the number of Slack calls made."""
        calls = 0
        for _ in range(max_rounds):
            made = self._round()
            calls += made
            if made == 0:
                break
        return calls

    def run_forever(self, poll_seconds: float = 0.5) -> None:
        """The sender loop for `serve` and `worker`; stops when `stop()` is called."""
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # keep the loop alive; the row keeps its state for a retry
                log.exception("outbox sender round failed")
            # Paced channels come due within a second: sleep until then, not on every nudge.
            pending = [self._paced(channel) for channel in self._last_post]
            soonest = min((p for p in pending if p > 0), default=None)
            if soonest is not None:
                self._stop.wait(soonest)
            else:
                self._wakeup.wait(poll_seconds)
            self._wakeup.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wakeup.set()

    def _due(self) -> list[tuple[int, str]]:
        """Due messages, oldest change first, at most one per channel per round.

        Oldest change first keeps a board summary that changes with every delivery from
        starving the items behind it; one per channel lets the pacing below skip a busy
        channel without a database write.
        """
        with self.db.session(read_only=True) as session:
            rows = session.exec(
                select(SlackMessage.id, SlackMessage.channel)
                .where(
                    col(SlackMessage.version) > col(SlackMessage.sent_version),
                    col(SlackMessage.next_attempt_at) <= self.clock(),
                )
                .order_by(col(SlackMessage.updated_at), col(SlackMessage.id))
                .limit(self.batch * 25)
            ).all()
        chosen: dict[str, int] = {}
        for row_id, channel in rows:
            if row_id is not None and channel not in chosen:
                chosen[channel] = int(row_id)
        return [(row_id, channel) for channel, row_id in chosen.items()][: self.batch]

    def _round(self) -> int:
        calls = 0
        for row_id, channel in self._due():
            if self._paced(channel) > 0:
                continue  # stays due; sent when the channel's second is up
            calls += self._send_one(row_id)
        return calls

    def _paced(self, channel: str) -> float:
        """Seconds until this channel may take another call (about one a second)."""
        last = self._last_post.get(channel)
        if last is None:
            return 0.0
        return max(0.0, self.per_channel_interval - (time.monotonic() - last))

    def _send_one(self, row_id: int) -> int:
        # Three short transactions: claim (a lease), call Slack with no transaction open,
        # record. A SQLite write lock or a PostgreSQL row lock is never held while Slack
        # answers, so the web app's writes never queue behind a slow or rate-limited call.
        job = self._claim(row_id)
        if job is None:
            return 0
        self._last_post[job.channel] = time.monotonic()
        try:
            sent = self._call(job)
        except SlackApiError as exc:
            self._release(row_id, str(exc.response.get("error", "error")))
            return 1
        except Exception as exc:  # connection errors after the client's own retries
            # The post may have reached Slack before the connection broke: look first.
            self._release(row_id, type(exc).__name__, maybe_sent=True)
            return 1
        with self.db.session() as session:
            row = session.get(SlackMessage, row_id)
            if row is not None:
                row.ts, row.channel = sent.ts, sent.channel
                row.sent_version = max(row.sent_version, job.version)
                row.attempts, row.last_error, row.claimed_until = 0, None, None
                session.add(row)
        return sent.calls

    def _claim(self, row_id: int) -> _Job | None:
        now = self.clock()
        with self.db.session() as session:
            stmt = select(SlackMessage).where(SlackMessage.id == row_id)
            if self.db.is_postgres:
                # Another worker holding this row is claiming it: skip, never wait or repeat.
                stmt = stmt.with_for_update(skip_locked=True)
            row = session.exec(stmt).first()
            if row is None or row.version <= row.sent_version or row.next_attempt_at > now:
                return None
            if row.claimed_until is not None and row.claimed_until > now:
                return None
            # A lease that ran out means a sender died mid-call: Slack may hold the post.
            recover = row.claimed_until is not None and row.ts is None
            thread_ts: str | None = None
            if row.thread_key:
                parent = session.exec(
                    select(SlackMessage).where(SlackMessage.key == row.thread_key)
                ).first()
                if parent is None or parent.ts is None:
                    # The parent is not posted yet: try again shortly, after it.
                    row.next_attempt_at = now + timedelta(seconds=1)
                    session.add(row)
                    return None
                thread_ts = parent.ts
            row.claimed_until = now + LEASE
            session.add(row)
            return _Job(
                key=row.key,
                channel=row.channel,
                text=row.text,
                blocks=row.blocks,
                pin=row.pin,
                ts=row.ts,
                version=row.version,
                thread_ts=thread_ts,
                created_at=row.created_at,
                recover=recover,
            )

    def _call(self, job: _Job) -> _Sent:
        kwargs: dict[str, Any] = {"channel": job.channel, "text": job.text}
        if job.blocks:
            kwargs["blocks"] = job.blocks
        ts = job.ts
        if ts is None and job.recover:
            ts = self._find_posted(job)
        if ts is not None:
            try:
                self.client.chat_update(ts=ts, **kwargs)
                return _Sent(ts=ts, channel=job.channel, calls=1)
            except SlackApiError as exc:
                if exc.response.get("error") != "message_not_found":
                    raise
                # Someone deleted it: post it again so the channel shows the current state.
        if job.thread_ts is not None:
            kwargs["thread_ts"] = job.thread_ts
        kwargs["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": job.key}}
        response = self.client.chat_postMessage(**kwargs)
        sent = _Sent(
            ts=str(response["ts"]), channel=str(response.get("channel") or job.channel), calls=1
        )
        if job.pin:
            try:
                self.client.pins_add(channel=sent.channel, timestamp=sent.ts)
            except SlackApiError as exc:
                if exc.response.get("error") != "already_pinned":
                    log.warning("could not pin %s: %s", job.key, exc.response.get("error"))
            sent.calls += 1
        return sent

    def _find_posted(self, job: _Job) -> str | None:
        """The ts of a message this key already posted, found by its metadata, if any."""
        oldest = f"{job.created_at.timestamp() - 60:.6f}"
        try:
            if job.thread_ts is not None:
                page = self.client.conversations_replies(
                    channel=job.channel, ts=job.thread_ts, include_all_metadata=True, limit=200
                )
            else:
                page = self.client.conversations_history(
                    channel=job.channel, oldest=oldest, include_all_metadata=True, limit=200
                )
        except SlackApiError as exc:
            log.info(
                "could not look for an unrecorded post of %s: %s",
                job.key,
                exc.response.get("error"),
            )
            return None
        for message in page.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_payload") or {}).get("key") == job.key:
                log.info("found the unrecorded post of %s; editing it instead", job.key)
                return str(message["ts"])
        return None

    def release_all_claims(self) -> int:
        """Forget every lease: for a single process starting up, no other sender holds one."""
        from sqlalchemy import update

        with self.db.session() as session:
            result = session.execute(
                update(SlackMessage)
                .where(col(SlackMessage.claimed_until).is_not(None))
                .values(claimed_until=self.clock() - timedelta(seconds=1))
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _release(self, row_id: int, error: str, *, maybe_sent: bool = False) -> None:
        with self.db.session() as session:
            row = session.get(SlackMessage, row_id)
            if row is not None:
                # An expired claim (rather than none) makes the next try look for the post.
                row.claimed_until = self.clock() - timedelta(seconds=1) if maybe_sent else None
                self._failed(row, error)
                session.add(row)

    def _failed(self, row: SlackMessage, error: str) -> None:
        row.attempts += 1
        row.last_error = error[:500]
        if error in PERMANENT_ERRORS:
            log.warning("giving up on message %s in %s: %s", row.key, row.channel, error)
            row.sent_version = row.version
            return
        delay = min(timedelta(seconds=2 ** min(row.attempts, 11)), MAX_BACKOFF)
        row.next_attempt_at = self.clock() + delay
        log.info("will retry message %s in %ss: %s", row.key, int(delay.total_seconds()), error)
