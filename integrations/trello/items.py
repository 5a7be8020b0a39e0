"""Trello cards as `ItemState`, "done" lists, the credit a finished card earns, and every
Trello dedupe key.

An action carries only what changed, so the `ItemState` of a Trello change is a partial
picture that the mirror merges into what it stored (see `parse_action` in `webhook.py`); a
card read from the REST API is a full one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from integrations.changes import Credit, ItemState
from integrations.trello.payloads import Card, CardRef, Named

# -- "done" lists -----------------------------------------------------------------------------

_DONE_WORD = re.compile(r"\b(?:done|completed?|finished|shipped|live)\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# A done-word right after one of these describes work that is not done yet: "To be done",
# "To complete", "Going live", "Waiting to go live", "Almost finished", "Not yet done", and
# "Definition of Done" (a list of rules, not of work)...
_NOT_YET = frozenset("yet almost nearly be being go going get getting to of".split())
# ...and one of these up to two words before negates it: "Not done", "Not quite done".
_NEGATIONS = frozenset({"not", "never"})


def looks_done(list_name: str) -> bool:
    """Whether a list's name says its cards are finished ("Done ✅", "Complete", "Shipped").

    Whole words only ("Undone" and "Incomplete" are not done), and not after words that
    make it future or negative ("Not done", "Isn't done", "To be done", "Going live").
    "Live" counts only as the last word: "Live" and "Gone live" are done, "Live issues" is
    not.
    """
    for match in _DONE_WORD.finditer(list_name):
        before = _WORD.findall(list_name[: match.start()].lower())[-2:]
        if before and before[-1] in _NOT_YET:
            continue
        if any(word in _NEGATIONS or word.endswith(("n't", "n’t")) for word in before):
            continue
        if match.group().lower() == "live" and _WORD.search(list_name[match.end() :]):
            continue
        return True
    return False


# -- ItemState --------------------------------------------------------------------------------


def card_key(card_id: str) -> str:
    """The item key of a card: `trello:<card id>`."""
    return f"trello:{card_id}"


def card_url(short_link: str) -> str:
    """A card's permanent link ("" when the short link is unknown)."""
    return f"https://trello.com/c/{short_link}" if short_link else ""


def card_state(
    card: Card | Mapping[str, Any], board_id: str, board_name: str, list_name: str
) -> ItemState:
    """A card as the REST API returns it (with `members=true`), as a full ItemState."""
    card = card if isinstance(card, Card) else Card.model_validate(card)
    return ItemState(
        source="trello",
        key=card_key(card.id),
        container=board_id,
        container_name=board_name,
        kind="card",
        number=card.id_short,
        title=card.name,
        url=card_url(card.short_link),
        state=list_name,
        closed=card.closed,
        labels=tuple(label.text for label in card.labels if label.text),
        people=tuple(member.username for member in card.members if member.username),
        due=card.due,
        comments=card.comments,
        updated_at=card.date_last_activity,
    )


def action_card_state(
    card: CardRef,
    board: Named,
    occurred_at: datetime,
    *,
    state: str = "",
    labels: tuple[str, ...] = (),
    people: tuple[str, ...] = (),
    due: datetime | None = None,
    closed: bool | None = None,
) -> ItemState:
    """The partial state of the card an action is about (conventions in `parse_action`)."""
    return ItemState(
        source="trello",
        key=card_key(card.id),
        container=board.id,
        container_name=board.name,
        kind="card",
        number=card.id_short,
        title=card.name,
        url=card_url(card.short_link),
        state=state,
        closed=card.closed if closed is None else closed,
        labels=labels,
        people=people,
        due=due,
        updated_at=occurred_at,
    )


# -- dedupe keys and credits ------------------------------------------------------------------


def action_key(action_id: str) -> str:
    """`trello:<action id>`: the same whether the action came by webhook or by poll."""
    return f"trello:{action_id}"


def card_done_key(card_id: str) -> str:
    """A card finished: credited once, however often it moves between done lists."""
    return f"trello:card_done:{card_id}"


def card_done_credit(item: ItemState, card_id: str, actor: str | None) -> tuple[Credit, ...]:
    """The give that moving (or creating) a card into a done list earns whoever did it."""
    if not actor:
        return ()
    where = f"on {item.container_name}" if item.container_name else ""
    description = " ".join(part for part in (f"finished “{item.title}”", where) if part)
    return (
        Credit(
            kind="give",
            source="trello:card_done",
            login=actor,
            dedupe_key=card_done_key(card_id),
            description=description,
        ),
    )
