"""The outbox: every message the bot shows in a channel is a row here first.

Services `publish` the desired state of a message under a stable key; the `SlackSender`
makes Slack match it (post once, then `chat.update` in place). Several changes before the
sender runs become one call, and nothing acknowledged is lost across a restart.

The sender's rules, for one message (a row of `slack_message`):

    state      what holds
    CLEAN      version == sent_version: Slack shows what we want.
    WAITING    dirty, but not due yet (a backoff or Retry-After), or a reply whose parent
               has no ts yet, or its channel paced (SLACK_CHANNEL_PACE) or parked.
    SENDABLE   dirty, due, no live claim, parent posted, channel gate open.
    CLAIMED    one sender holds it under a unique token until its lease ends.

    event                  from -> to
    publish                any -> SENDABLE or WAITING (version + 1)
    claim                  SENDABLE -> CLAIMED, in one transaction that moves the channel's
                           gate from <= now to now + pace: one claim per channel per pace
                           across every process. Each round takes every channel with a
                           sendable row, the longest-waiting channel first, and one row in
                           each, oldest change first; a WAITING row is never selected, so it
                           blocks nothing.
    Slack call             only by the holder, only with at least CALL_BOUND of lease left
                           (else the lease is extended first, or the claim is dropped), with
                           a CALL_TIMEOUT and no sleeping inside: every call of a claim ends
                           before its lease does.
    ok                     CLAIMED -> CLEAN (ts recorded), only with the claim's token.
    429 Retry-After r      CLAIMED -> WAITING r seconds; the channel's gate (and, for
                           chat.update, the method's workspace-wide gate) also waits r.
    5xx                    tried again at once, once per claim: a 5xx did nothing, so the
                           retry spends none of the channel's pace; a second 5xx as below.
    other errors           CLAIMED -> WAITING, backoff 2^attempts s (at most MAX_BACKOFF).
    no answer (timeout)    as 5xx, and marked "maybe posted".
    channel refused        (CHANNEL_ERRORS) CLAIMED -> WAITING and the channel PARKED, said
                           once in the log and by `store.outbox.parked_channels()` (for
                           /healthz); a parked channel is
                           checked with conversations.info every PROBE_INTERVAL and resumes
                           when the bot can post there, or at once by `unpark(channel)` (as
                           when Slack says the bot joined it: handlers/events.py).
    message refused        (MESSAGE_ERRORS) this version is given up: it counts as sent, and
                           so do replies waiting for it if it was never posted.
    crash, lease runs out  CLAIMED -> SENDABLE "maybe posted": the next claim looks for the
                           post by its metadata and edits it instead of posting again.
    stale token            recording with a token that no longer holds the row does nothing.

A restarting process releases no claim: a claim ends when its holder records it or its lease
runs out, and by then every call the holder made has ended, so the metadata search sees any
post it made. That is why a message is never posted twice. What this rests on: the clocks
of the processes agree to within a few seconds (CALL_BOUND keeps 5 s to spare); a 5xx from
Slack means the call did nothing (a timeout or dropped connection does not, and is treated
as "maybe posted"); and Slack's history shows a post once `chat.postMessage` has answered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import event
from sqlmodel import Session

from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.outbox_calls import (
    CALL_BOUND,
    CALL_TIMEOUT,
    LEASE,
    METADATA_EVENT,
    MessageCalls,
    Outcome,
    bounded_client,
)
from makersbot.outbox_failures import (
    CHANNEL_ERRORS,
    MESSAGE_ERRORS,
    PERMANENT_ERRORS,
    PROBE_INTERVAL,
    UPDATE_GATE,
    record_failure,
)
from makersbot.store import outbox as outbox_store
from makersbot.store import outbox_gates as gates
from makersbot.store.models import utcnow
from makersbot.store.outbox import ClaimedMessage, Desired

__all__ = [
    "CALL_BOUND",
    "CALL_TIMEOUT",
    "CHANNEL_ERRORS",
    "LEASE",
    "MESSAGE_ERRORS",
    "METADATA_EVENT",
    "PERMANENT_ERRORS",
    "Outbox",
    "Outcome",
    "SlackSender",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


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
        desired = Desired(key, channel, message.text, message.blocks or None, pin, thread_key)
        self.publish_all(session, [desired])

    def publish_all(self, session: Session, messages: Sequence[Desired]) -> None:
        """`publish` for many messages at once: one read and one write for all of them."""
        if outbox_store.set_messages(session, messages=messages, now=self.clock()):
            self.wake_after_commit(session)  # an unchanged message costs no call to Slack

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
    """Drains the outbox to Slack. Safe to run in several processes (see the rules above).

    It sends; it does not loop: `makersbot/loops.py` runs `drain` in the background, and
    tests and the console call it directly. `claim`, `send` and `settle` are the three
    steps of one message, public so that tests can interleave two senders step by step.
    """

    def __init__(
        self,
        db: Database,
        client: WebClient,
        *,
        clock: Clock = utcnow,
        per_channel_interval: float = 1.0,
        batch: int = 50,
    ) -> None:
        self.db = db
        self.client = bounded_client(client)
        self.clock = clock
        self._calls = MessageCalls(self.client, self._extend, clock)
        self.pace = timedelta(seconds=per_channel_interval)
        self.batch = batch

    def drain(self, *, max_rounds: int = 1000, parallel: int = 1) -> int:
        """Send everything that is due now; returns the number of Slack calls made.

        `parallel` > 1 makes a round's calls (one per channel) at the same time, up to that
        many at once: the background loop does, so a slow or rate-limited call in one
        channel holds no other channel back. Tests leave it at 1 for a repeatable order.
        """
        calls = 0
        for _ in range(max_rounds):
            claimed, made = self._round(parallel)
            calls += made
            if claimed == 0:
                break
        return calls

    def next_due(self) -> float | None:
        """Seconds until a waiting message may become sendable (a paced channel opens, a
        backoff or Retry-After ends); None when nothing waits for a time."""
        now = self.clock()
        with self.db.session(read_only=True) as session:
            soonest = outbox_store.next_opening(session, now=now, update_gate=UPDATE_GATE)
        return None if soonest is None else max(0.0, (soonest - now).total_seconds())

    def unpark(self, channel: str) -> bool:
        """Resume a parked channel now (e.g. the bot was invited back); True if it was parked."""
        with self.db.session() as session:
            resumed = gates.unpark(session, channel=channel, now=self.clock())
        if resumed:
            log.info("channel %s resumes: its waiting messages will be sent", channel)
        return resumed

    def _round(self, parallel: int = 1) -> tuple[int, int]:
        """One claim in every ready channel; (messages claimed, Slack calls made).

        With `parallel` > 1 every channel's turn is claimed in one transaction, then the
        calls go out together and each is settled as it ends: a 429 on one channel's
        chat.update closes the update gate for the rounds after, not for the channels of
        this round, as it would were they claimed by another process.
        """
        self._probe_parked()
        ready = self._ready_channels()
        if not ready:  # every channel paced or empty: nothing to claim, no transaction
            return 0, 0
        if parallel <= 1:  # claim, call and settle one channel after another
            claims = (c for c in map(self.claim, ready) if c is not None)
            return self._settle_all((claim, self.send(claim)) for claim in claims)
        taken = self.claim_all(ready)
        if len(taken) <= 1:
            return self._settle_all((claim, self.send(claim)) for claim in taken)
        with ThreadPoolExecutor(min(parallel, len(taken)), "outbox-send") as pool:
            sending = {pool.submit(self.send, claim): claim for claim in taken}
            return self._settle_all(
                (sending[done], done.result()) for done in as_completed(sending)
            )

    def _settle_all(self, outcomes: Iterable[tuple[ClaimedMessage, Outcome]]) -> tuple[int, int]:
        claimed = calls = 0
        for claim, outcome in outcomes:
            self.settle(claim, outcome)
            claimed, calls = claimed + 1, calls + outcome.calls
        return claimed, calls

    def _ready_channels(self) -> list[str]:
        now = self.clock()
        with self.db.session(read_only=True) as session:
            paused = outbox_store.gate_closed(session, name=UPDATE_GATE, now=now)
            return outbox_store.ready_channels(
                session, now=now, limit=self.batch, updates_paused=paused
            )

    def claim(self, channel: str) -> ClaimedMessage | None:
        """Take `channel`'s turn and its oldest sendable message, if the gate is open."""
        claims = self.claim_all([channel])
        return claims[0] if claims else None

    def claim_all(self, channels: list[str]) -> list[ClaimedMessage]:
        """`claim` in each channel, in one transaction: a round's calls start together.

        Channels are taken in name order, so two senders claiming overlapping rounds lock
        the gates in the same order and never deadlock.
        """
        now = self.clock()
        with self.db.session() as session:
            paused = outbox_store.gate_closed(session, name=UPDATE_GATE, now=now)
            claims = [
                outbox_store.claim_next(
                    session,
                    channel=channel,
                    now=now,
                    lease=LEASE,
                    pace=self.pace,
                    token=uuid.uuid4().hex,
                    updates_paused=paused,
                    skip_locked=self.db.is_postgres,
                )
                for channel in sorted(channels)
            ]
        return [claim for claim in claims if claim is not None]

    def send(self, claim: ClaimedMessage) -> Outcome:
        """Make Slack show the claimed message. Writes nothing but lease extensions."""
        return self._calls.send(claim)

    def _extend(self, claim: ClaimedMessage, now: datetime) -> bool:
        """Move the claim's lease on to now + LEASE; False when the claim is lost."""
        with self.db.session() as session:
            extended = outbox_store.extend_claim(
                session, row_id=claim.id, token=claim.token, now=now, until=now + LEASE
            )
        if extended:
            claim.until = now + LEASE
        return extended

    def settle(self, claim: ClaimedMessage, outcome: Outcome) -> None:
        """Record what `send` came to; a no-op when the claim was lost meanwhile."""
        if outcome.lost:
            log.warning(
                "lost the claim on %s before calling Slack; another sender has it", claim.key
            )
            return
        now = self.clock()
        with self.db.session() as session:
            if outcome.ts is not None:
                if not outbox_store.record_sent(
                    session,
                    row_id=claim.id,
                    token=claim.token,
                    ts=outcome.ts,
                    channel=outcome.channel or claim.channel,
                    version=claim.version,
                ):
                    log.warning("%s was sent but its claim had passed to another sender", claim.key)
                return
            record_failure(session, claim, outcome, now)

    # Parked channels ------------------------------------------------------------------------

    def _probe_parked(self) -> None:
        """Check parked channels that are due a check; resume those the bot can post in."""
        now = self.clock()
        with self.db.session(read_only=True) as session:
            due = gates.probes_due(session, now=now)
        for channel, reason in due:
            with self.db.session() as session:
                mine = gates.claim_probe(
                    session, channel=channel, now=now, next_probe=now + PROBE_INTERVAL
                )
            if mine and self._usable(channel, reason):
                self.unpark(channel)

    def _usable(self, channel: str, reason: str) -> bool:
        """Whether Slack would take posts in a channel parked for `reason` now."""
        try:
            info = self.client.conversations_info(channel=channel).get("channel") or {}
        except Exception:  # still refused, or Slack unreachable: check again later
            return False
        if info.get("is_archived"):
            return False
        return bool(info.get("is_member")) or reason != "not_in_channel"
