"""Privacy for the people in the bot: what erasing someone would do, and what it did."""

from __future__ import annotations

from dataclasses import dataclass

# The confirmation button of `/makers forget`; its value is the Slack user id to forget.
FORGET_ACTION = "makers_forget"
# What stands in for a forgotten person where a record must say someone (audit fields).
FORGOTTEN = "forgotten"


@dataclass(frozen=True)
class ForgetPreview:
    """What `/makers forget` would erase, shown with the confirmation button."""

    slack_user_id: str
    is_self: bool
    memberships: int
    ledger_entries: int  # kept for their council, no longer linked to the person
    sole_lead_of: tuple[str, ...] = ()  # project names left without a lead


@dataclass(frozen=True)
class Erasure:
    """What forgetting someone did."""

    slack_user_id: str
    memberships: int
    ledger_entries: int
    messages_edited: int  # bot messages that named them, edited in Slack
    messages_deleted: int  # the bot's direct messages to them, forgotten by the bot
    other_rows: int  # any other record that pointed at them
    leaderless: tuple[str, ...] = ()  # project names now without a lead
