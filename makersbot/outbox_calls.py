"""The Slack calls that make one claimed outbox message show: post or update, pin, and
look for a post that an earlier claim made but never recorded.

Every call is bounded (CALL_TIMEOUT, no sleep inside) and starts only while the claim has
CALL_BOUND of lease left, extending it first when not: so every call of a claim ends before
its lease does, and whoever takes the message over next sees any post made. A claim's first
5xx is tried again at once, once: a 5xx did nothing (the rule at-most-once rests on), so the
retry spends no post of the channel's pace, and a second 5xx ends the claim with a backoff.
The rules as a whole are in `makersbot/outbox.py`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from makersbot.store.outbox import ClaimedMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

METADATA_EVENT = "makersbot_message"
CALL_TIMEOUT = 10  # seconds one Slack call may take (the HTTP timeout)
# Before each call a claim must have this much lease left, or be extended first.
CALL_BOUND = timedelta(seconds=CALL_TIMEOUT + 5)
# How long a claimed message is left to its sender before another may take it over.
LEASE = timedelta(seconds=30)


def bounded_client(client: WebClient) -> WebClient:
    """A copy of `client` whose calls never outlast CALL_TIMEOUT and never sleep inside.

    slack_sdk's retry handlers wait out a 429 or a 5xx inside the call, which can outlast
    any lease; the sender retries through the database instead. A shallow copy keeps the
    client's class and settings (the console's in-process Slack stays itself).
    """
    bounded = copy.copy(client)
    bounded.retry_handlers = []
    bounded.timeout = min(client.timeout, CALL_TIMEOUT)
    return bounded


@dataclass
class Outcome:
    """What one claim's Slack calls came to; `SlackSender.settle` records it."""

    calls: int = 0
    ts: str | None = None  # Slack shows the message as this ts (in `channel`)
    channel: str | None = None
    error: str | None = None
    method: str | None = None  # the call that failed
    retry_after: float | None = None  # a 429
    answered_at: datetime | None = None  # when the 429 came: Retry-After counts from then
    uncertain: bool = False  # no answer: a post may have happened
    lost: bool = False  # the lease could not be extended: someone else holds the row
    retried: bool = False  # a 5xx was tried again at once (one retry per claim)


class _ClaimLost(Exception):
    """The claim's lease ran out before a call could start."""


class MessageCalls:
    """Calls Slack for claimed messages. `extend(claim, now)` moves a claim's lease on in
    the database (False when the claim is lost); `clock` is the sender's."""

    def __init__(
        self,
        client: WebClient,
        extend: Callable[[ClaimedMessage, datetime], bool],
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.extend = extend
        self.clock = clock

    def send(self, claim: ClaimedMessage) -> Outcome:
        """Make Slack show the claimed message. Writes nothing but lease extensions."""
        outcome = Outcome()
        try:
            outcome.ts, outcome.channel = self._show(claim, outcome)
        except _ClaimLost:
            outcome.lost = True
        except SlackApiError as exc:
            response = exc.response
            outcome.error = str(response.get("error") or f"http_{response.status_code}")
            if response.status_code == 429:
                outcome.retry_after = _retry_after(response)
                outcome.answered_at = self.clock()
        except Exception as exc:  # a timeout or a dropped connection: Slack may have it
            outcome.error, outcome.uncertain = type(exc).__name__, True
        return outcome

    def _call(
        self, claim: ClaimedMessage, outcome: Outcome, method: str, call: Callable[[], T]
    ) -> T:
        """Make one Slack call for a claim, only while the claim outlasts the call; the
        claim's first 5xx is tried again at once (it did nothing, see above)."""
        while True:
            now = self.clock()
            if claim.until - now < CALL_BOUND and not self.extend(claim, now):
                raise _ClaimLost
            outcome.calls += 1
            outcome.method = method
            try:
                return call()
            except SlackApiError as exc:
                if exc.response.status_code < 500 or outcome.retried:
                    raise
                outcome.retried = True
                log.info(
                    "Slack answered %s to %s; trying once more", exc.response.status_code, method
                )

    def _show(self, claim: ClaimedMessage, outcome: Outcome) -> tuple[str, str]:
        """Post or update; (ts, channel) of what Slack now shows."""
        kwargs: dict[str, Any] = {"channel": claim.channel, "text": claim.text}
        if claim.blocks:
            kwargs["blocks"] = claim.blocks
        ts = claim.ts
        if ts is None and claim.recover:
            ts = self._find_posted(claim, outcome)
        if ts is not None:
            try:
                self._call(
                    claim, outcome, "chat.update", lambda: self.client.chat_update(ts=ts, **kwargs)
                )
                return ts, claim.channel
            except SlackApiError as exc:
                if exc.response.get("error") != "message_not_found":
                    raise
                # Someone deleted it: post it again so the channel shows the current state.
        if claim.thread_ts is not None:
            kwargs["thread_ts"] = claim.thread_ts
        kwargs["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": claim.key}}
        response = self._call(
            claim, outcome, "chat.postMessage", lambda: self.client.chat_postMessage(**kwargs)
        )
        posted = (str(response["ts"]), str(response.get("channel") or claim.channel))
        if claim.pin:
            self._pin(claim, outcome, *posted)
        return posted

    def _pin(self, claim: ClaimedMessage, outcome: Outcome, ts: str, channel: str) -> None:
        try:
            self._call(
                claim,
                outcome,
                "pins.add",
                lambda: self.client.pins_add(channel=channel, timestamp=ts),
            )
        except SlackApiError as exc:
            if exc.response.get("error") != "already_pinned":
                log.warning("could not pin %s: %s", claim.key, exc.response.get("error"))

    def _find_posted(self, claim: ClaimedMessage, outcome: Outcome) -> str | None:
        """The ts of a message this key already posted, found by its metadata, if any.

        A 429 or no answer ends the claim (it is tried again later, still looking first);
        any other refusal means the history cannot be read, and the message is posted.
        """
        oldest = f"{claim.created_at.timestamp() - 60:.6f}"
        try:
            if claim.thread_ts is not None:
                thread_ts = claim.thread_ts
                page = self._call(
                    claim,
                    outcome,
                    "conversations.replies",
                    lambda: self.client.conversations_replies(
                        channel=claim.channel, ts=thread_ts, include_all_metadata=True, limit=200
                    ),
                )
            else:
                page = self._call(
                    claim,
                    outcome,
                    "conversations.history",
                    lambda: self.client.conversations_history(
                        channel=claim.channel, oldest=oldest, include_all_metadata=True, limit=200
                    ),
                )
        except SlackApiError as exc:
            if exc.response.status_code == 429 or exc.response.status_code >= 500:
                raise
            log.info(
                "could not look for an unrecorded post of %s: %s",
                claim.key,
                exc.response.get("error"),
            )
            return None
        for message in page.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_payload") or {}).get("key") == claim.key:
                log.info("found the unrecorded post of %s; editing it instead", claim.key)
                return str(message["ts"])
        return None


def _retry_after(response: SlackResponse) -> float:
    """Seconds a 429 asks to wait (1 when it does not say)."""
    for name, value in (response.headers or {}).items():
        if name.lower() == "retry-after":
            text = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(text))
            except (TypeError, ValueError):
                break
    return 1.0
