"""What the GitHub and Trello integrations hand to the mirror service: our own frozen data.

Webhook parsers and API pollers both produce these, so an item seen both ways goes through
one path and one set of dedupe keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class IntegrationError(Exception):
    """A GitHub or Trello call failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MalformedPayload(ValueError):
    """A signed body that lacks what identifies it; answered 400 with this one-line reason."""


@dataclass(frozen=True)
class ItemState:
    """The current state of one GitHub issue / pull request or Trello card."""

    source: str  # "github" or "trello"
    key: str  # "github:owner/repo#42" (repo lower case) or "trello:<card id>"
    container: str  # "owner/repo" lower case, or the Trello board id
    container_name: str  # "Owner/Repo" or the board's name, as people know it
    kind: str  # "issue", "pr" or "card"
    number: int | None  # the issue/PR number; Trello's idShort for cards
    title: str
    url: str
    state: str  # github: open / closed / merged / draft; trello: the list's name
    closed: bool  # closed issue or PR, or archived card
    labels: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # assignees (GitHub logins) or members (Trello usernames)
    author: str | None = None
    author_is_bot: bool = False
    due: datetime | None = None
    comments: int | None = None  # total comments when the source says
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Credit:
    """A give or take that the change earns someone's council (see the ledger)."""

    kind: str  # "give" or "take"
    source: str  # e.g. "github:pr_merged", "github:review", "github:issue_closed",
    #                   "github:fork", "trello:card_done"
    login: str  # GitHub login or Trello username of who earned it
    dedupe_key: str
    description: str


@dataclass(frozen=True)
class Change:
    """One thing that happened, from a webhook delivery or a poll."""

    source: str  # "github" or "trello"
    container: str  # as ItemState.container: which links it concerns
    action: str  # normalised, e.g. "opened", "closed", "merged", "moved", "commented"
    summary: str  # the change in plain words (not escaped), e.g. "moved Doing → Done"
    occurred_at: datetime
    dedupe_key: str  # stable for the same change seen by webhook and by poll
    actor: str | None = None  # login / username of who did it
    item: ItemState | None = None  # the item after the change; None when not about an item
    item_key: str | None = None  # set even when item is None (e.g. a deleted card)
    deleted: bool = False  # the item is gone (deleted, transferred, moved off the board)
    state_change: bool = False  # worth a reply in the item's thread
    comment: str | None = None  # comment or review text for the thread reply
    comment_delta: int = 0  # +1 for a new comment when the total is not known
    label_rename: tuple[str, str | None] | None = None  # (old, new or None when deleted)
    credits: tuple[Credit, ...] = field(default_factory=tuple)
    destination: str | None = None  # the list a card went to (opened in, moved to)
    done: bool = False  # the change put the item in a done list
