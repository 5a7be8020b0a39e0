"""What the outbox sender records when a claim's Slack calls fail, by what Slack said.

The rules are in `makersbot/outbox.py`: a 429 waits out its Retry-After (the channel and,
for chat.update, every edit in the workspace), a refused channel is parked, a refused
message is given up, anything else backs off exponentially. Every write names the claim's
token, so a sender that lost its claim changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot.outbox_calls import Outcome
from makersbot.store import outbox as outbox_store
from makersbot.store import outbox_gates as gates
from makersbot.store.outbox import ClaimedMessage

log = logging.getLogger("makersbot.outbox")  # one logger for the sender's whole story

# Errors after which retrying the same call cannot succeed (the digest's chart uses these).
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
# Slack refuses the channel itself: park it, keep its messages, resume when it works again.
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
# Slack refuses this content: give up this version (a later one may go through).
MESSAGE_ERRORS = frozenset(
    {
        "msg_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "no_text",
        "restricted_action",
        "cant_update_message",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "too_many_attachments",
    }
)
# Everything else (a bad token included) is retried with backoff: nothing is dropped.
MAX_BACKOFF = timedelta(minutes=30)
PROBE_INTERVAL = timedelta(minutes=1)
UPDATE_GATE = "method:chat.update"  # chat.update is limited per workspace, not per channel


def record_failure(
    session: Session, claim: ClaimedMessage, outcome: Outcome, now: datetime
) -> None:
    """Record a claim's failed calls: wait out a 429, park a refused channel, give up a
    refused message, back off from anything else. A no-op when the claim was lost."""
    error = outcome.error or "error"
    if outcome.retry_after is not None:
        _wait_for_slack(session, claim, outcome, now, outcome.retry_after)
    elif error in CHANNEL_ERRORS:
        if _release(session, claim, outcome, now, retry_at=now) is not None and gates.park(
            session, channel=claim.channel, reason=error, now=now, probe_at=now + PROBE_INTERVAL
        ):
            log.warning(
                "parked channel %s: Slack says %s; its messages wait until the bot can "
                "post there again",
                claim.channel,
                error,
            )
    elif error in MESSAGE_ERRORS:
        done = outbox_store.give_up(
            session, row_id=claim.id, token=claim.token, error=error, now=now
        )
        if done is not None:
            log.warning("giving up on message %s in %s: %s", claim.key, claim.channel, error)
    else:
        _retry_later(session, claim, outcome, now)


def _release(
    session: Session,
    claim: ClaimedMessage,
    outcome: Outcome,
    now: datetime,
    *,
    retry_at: datetime,
    count: bool = True,
) -> outbox_store.Failure | None:
    """Hand the claimed row back, sendable again from `retry_at`; None if the claim was lost."""
    return outbox_store.release(
        session,
        row_id=claim.id,
        token=claim.token,
        error=outcome.error or "error",
        retry_at=retry_at,
        maybe_posted=claim.recover or outcome.uncertain,
        now=now,
        count_attempt=count,
    )


def _wait_for_slack(
    session: Session, claim: ClaimedMessage, outcome: Outcome, now: datetime, seconds: float
) -> None:
    """A 429: the row, the channel (and every chat.update) wait out Retry-After, counted
    from the answer (a parallel round settles its calls a little later)."""
    until = (outcome.answered_at or now) + timedelta(seconds=seconds)
    if _release(session, claim, outcome, now, retry_at=until, count=False) is not None:
        gates.hold_gate(session, name=claim.channel, until=until)
        if outcome.method == "chat.update":
            gates.hold_gate(session, name=UPDATE_GATE, until=until)
        log.info("Slack asked for %ss before %s again", outcome.retry_after, outcome.method)


def _retry_later(session: Session, claim: ClaimedMessage, outcome: Outcome, now: datetime) -> None:
    """Any other failure: retry with exponential backoff, capped at MAX_BACKOFF."""
    failure = _release(session, claim, outcome, now, retry_at=now)
    if failure is not None:
        delay = min(timedelta(seconds=2 ** min(failure.attempts, 11)), MAX_BACKOFF)
        outbox_store.retry_at(session, row_id=claim.id, when=now + delay)
        log.info(
            "will retry message %s in %ss: %s",
            claim.key,
            int(delay.total_seconds()),
            outcome.error or "error",
        )
