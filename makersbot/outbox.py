"""The outbox: every message the bot shows in a channel is a row here first.

Services `publish` the desired state of a message under a stable key; the `SlackSender`
makes Slack match it (post once, then `chat.update` in place). Several changes before the
sender runs become one call, and nothing acknowledged is lost across a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import event
from sqlmodel import Session

from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.store import outbox as outbox_store
from makersbot.store.models import utcnow
from makersbot.store.outbox import ClaimedMessage

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
        changed = outbox_store.set_message(
            session,
            key=key,
            channel=channel,
            text=message.text,
            blocks=message.blocks or None,
            pin=pin,
            thread_key=thread_key,
            now=self.clock(),
        )
        if changed:  # an unchanged message costs no call to Slack
            self.wake_after_commit(session)

    def wake_after_commit(self, session: Session) -> None:
        """Nudge an in-process sender once the session commits."""
        if not session.info.get("outbox_wake"):
            session.info["outbox_wake"] = True

            def _after_commit(_session: Any) -> None:
                session.info.pop("outbox_wake", None)
                self._wake()

            event.listen(session, "after_commit", _after_commit, once=True)

    def depth(self, session: Session) -> int:
        """How many messages wait to be sent (for /healthz)."""
        return outbox_store.depth(session)


class SlackSender:
    """Drains the outbox to Slack. Safe to run in several processes on PostgreSQL.

    It sends; it does not loop: `makersbot/loops.py` runs `drain` in the background, and
    tests and the console call it directly.
    """

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

    def drain(self, *, max_rounds: int = 1000) -> int:
        """Send everything that is due now; returns the number of Slack calls made."""
        calls = 0
        for _ in range(max_rounds):
            made = self._round()
            calls += made
            if made == 0:
                break
        return calls

    def next_pace_free(self) -> float | None:
        """Seconds until the soonest paced channel may take a call again; None if none waits."""
        pending = [self._paced(channel) for channel in self._last_post]
        return min((p for p in pending if p > 0), default=None)

    def release_all_claims(self) -> int:
        """Forget every lease: for a single process starting up, no other sender holds one."""
        with self.db.session() as session:
            return outbox_store.release_claims(session, now=self.clock())

    def _due(self) -> list[tuple[int, str]]:
        """Due messages, oldest change first, at most one per channel per round.

        Oldest change first keeps a board summary that changes with every delivery from
        starving the items behind it; one per channel lets the pacing below skip a busy
        channel without a database write.
        """
        with self.db.session(read_only=True) as session:
            rows = outbox_store.due_messages(session, now=self.clock(), limit=self.batch * 25)
        chosen: dict[str, int] = {}
        for row_id, channel in rows:
            if channel not in chosen:
                chosen[channel] = row_id
        return [(row_id, channel) for channel, row_id in chosen.items()][: self.batch]

    def _round(self) -> int:
        calls = 0
        for row_id, channel in self._due():
            if self._paced(channel) > 0:
                continue  # stays due; sent when the channel's pause is over
            calls += self._send_one(row_id)
        return calls

    def _paced(self, channel: str) -> float:
        """Seconds until this channel may take another call (SLACK_CHANNEL_PACE apart)."""
        last = self._last_post.get(channel)
        if last is None:
            return 0.0
        return max(0.0, self.per_channel_interval - (time.monotonic() - last))

    def _send_one(self, row_id: int) -> int:
        # Three short transactions: claim (a lease), call Slack with no transaction open,
        # record. A SQLite write lock or a PostgreSQL row lock is never held while Slack
        # answers, so the web app's writes never queue behind a slow or rate-limited call.
        with self.db.session() as session:
            job = outbox_store.claim_message(
                session,
                row_id=row_id,
                now=self.clock(),
                lease=LEASE,
                skip_locked=self.db.is_postgres,
            )
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
            outbox_store.record_sent(
                session, row_id=row_id, ts=sent.ts, channel=sent.channel, version=job.version
            )
        return sent.calls

    def _call(self, job: ClaimedMessage) -> _Sent:
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

    def _find_posted(self, job: ClaimedMessage) -> str | None:
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

    def _release(self, row_id: int, error: str, *, maybe_sent: bool = False) -> None:
        now = self.clock()
        with self.db.session() as session:
            # An expired claim (rather than none) makes the next try look for the post.
            failure = outbox_store.record_failure(
                session,
                row_id=row_id,
                error=error,
                claimed_until=now - timedelta(seconds=1) if maybe_sent else None,
            )
            if failure is None:
                return
            if error in PERMANENT_ERRORS:
                log.warning(
                    "giving up on message %s in %s: %s", failure.key, failure.channel, error
                )
                outbox_store.give_up(session, row_id=row_id)
                return
            delay = min(timedelta(seconds=2 ** min(failure.attempts, 11)), MAX_BACKOFF)
            outbox_store.retry_at(session, row_id=row_id, when=now + delay)
            log.info(
                "will retry message %s in %ss: %s", failure.key, int(delay.total_seconds()), error
            )
