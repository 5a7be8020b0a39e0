"""Trello deliveries of the plan: the next change to a card, its expected state, and the
signed action payload Trello would send.

Payloads use Zulip's Trello board model from tests/fixtures with our own values; every
action carries a later `date` than the one before.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench._mirror.layout import (
    COMMENTS,
    PEOPLE,
    TRELLO_CALLBACK,
    TRELLO_SECRET,
    Board,
    Delivery,
    Item,
    fixture,
    iso,
)

TRELLO_LABELS = ("Urgent", "Research", "Design", "Content", "Accessibility")
TRELLO_LISTS = ("Backlog", "To do", "Doing", "Review", "Done")
LABEL_COLOURS = ("red", "blue", "green", "purple", "orange")
# Changes the mirror also notes in the card's thread (when the link has thread replies on).
THREADED = ("createCard", "move", "archive", "unarchive", "commentCard")


@dataclass
class _Change:
    """One action's type and the parts of its payload that depend on the change."""

    kind: str  # the Trello action type
    data: dict[str, Any] = field(default_factory=dict)  # action.data, without card and board
    card: dict[str, Any] = field(default_factory=dict)  # action.data.card, without name and id
    raw: dict[str, Any] = field(default_factory=dict)  # extra top-level action fields


class TrelloPlanner:
    """Plans one card delivery at a time and keeps the card's expected state."""

    def __init__(self, rng: random.Random, boards: Sequence[Board]) -> None:
        self.rng = rng
        self.boards = {board.id: board for board in boards}
        self.board_model = fixture("trello/zulip/trello_creating_card.json")["model"]

    def delivery(self, index: int, item: Item, seq: int, when: datetime) -> Delivery:
        """The next change to card `item` (Layout.items[index]), as change number `seq`."""
        from tests.fakes.signing import trello_headers

        action = self._choose(item)
        board = self.boards[item.container]
        creator = self.rng.choice(PEOPLE)
        change = self._change(item, action)
        change.card = {"shortLink": item.short_link, "idShort": item.number, **change.card}
        change.card.update(name=item.title, id=item.card_id)
        body = json.dumps(self._payload(board, change, creator, when)).encode()
        headers = trello_headers(TRELLO_SECRET, body, TRELLO_CALLBACK)
        old = change.data.get("old")
        name = change.kind + (f":{next(iter(old))}" if old else "")
        return Delivery(index, seq, name, "/trello/webhook", body, headers, action in THREADED)

    def _choose(self, item: Item) -> str:
        if not item.opened:
            return "createCard"
        if item.archived:
            return self.rng.choices(["unarchive", "commentCard"], [1.0, 0.6])[0]
        choices = [
            ("move", 4.0),
            ("rename", 1.2),
            ("commentCard", 3.0),
            ("addLabelToCard", 2.0 if len(item.labels) < 3 else 0.0),
            ("removeLabelFromCard", 1.0 if item.labels else 0.0),
            ("addMemberToCard", 1.0 if len(item.people) < 3 else 0.0),
            ("archive", 0.25),
        ]
        names = [name for name, weight in choices if weight > 0]
        return self.rng.choices(names, [weight for _, weight in choices if weight > 0])[0]

    def _change(self, item: Item, action: str) -> _Change:
        """Apply `action` to the card's expected state; returns what the payload says."""
        if action == "createCard":
            item.opened, item.state = True, self.rng.choice(TRELLO_LISTS[:2])
            return _Change(action, {"list": _list(item.state)})
        if action == "move":
            before = item.state
            item.state = self.rng.choice([name for name in TRELLO_LISTS if name != before])
            data = {"listBefore": _list(before), "listAfter": _list(item.state)}
            old = {"idList": _list(before)["id"]}
            return _Change("updateCard", {**data, "old": old}, {"idList": _list(item.state)["id"]})
        if action == "rename":
            return _Change("updateCard", {"old": {"name": item.rename()}})
        if action in ("archive", "unarchive"):
            item.archived = action == "archive"
            old_closed = {"closed": not item.archived}
            return _Change("updateCard", {"old": old_closed}, {"closed": item.archived})
        if action == "commentCard":
            item.comments += 1
            return _Change(action, {"text": self.rng.choice(COMMENTS)})
        if action in ("addLabelToCard", "removeLabelFromCard"):
            return self._relabel(item, action)
        return self._add_member(item)

    def _relabel(self, item: Item, action: str) -> _Change:
        if action == "addLabelToCard":
            name = self.rng.choice([n for n in TRELLO_LABELS if n not in item.labels])
            item.labels = sorted({*item.labels, name})
        else:
            name = self.rng.choice(item.labels)
            item.labels.remove(name)
        number = TRELLO_LABELS.index(name)
        label = {"id": f"{number + 1:024x}", "name": name, "color": LABEL_COLOURS[number]}
        return _Change(action, {"label": label, "text": name})

    def _add_member(self, item: Item) -> _Change:
        username = self.rng.choice([p for p in PEOPLE if p not in item.people])
        item.people = sorted({*item.people, username})
        member = {
            "id": f"{abs(hash(username)) % 10**9:024x}",
            "username": username,
            "fullName": username.title(),
        }
        return _Change("addMemberToCard", {"idMember": member["id"]}, raw={"member": member})

    def _payload(
        self, board: Board, change: _Change, creator: str, when: datetime
    ) -> dict[str, Any]:
        data = {**change.data, "card": change.card}
        data["board"] = {"shortLink": board.short_link, "name": board.name, "id": board.id}
        model = copy.deepcopy(self.board_model)
        model.update(id=board.id, name=board.name, url=f"https://trello.com/b/{board.short_link}")
        member = {
            "id": f"{abs(hash(creator)) % 10**9:024x}",
            "avatarHash": None,
            "fullName": creator.title(),
            "initials": creator[0].upper(),
            "username": creator,
        }
        action = {
            # Like Trello's ids (MongoDB ObjectIds): 4 bytes of time, 8 random bytes.
            "id": f"{int(when.timestamp()):08x}{uuid.uuid4().int >> 64:016x}",
            "idMemberCreator": member["id"],
            "data": data,
            "type": change.kind,
            "date": iso(when, millis=True),
            "memberCreator": member,
            **change.raw,
        }
        return {"model": model, "action": action}


def _list(name: str) -> dict[str, str]:
    return {"name": name, "id": f"{0x11570000 + TRELLO_LISTS.index(name):024x}"}
