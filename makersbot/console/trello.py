"""Trello played in-process for the offline console.

`ConsoleTrello` answers the gateway calls `/makers link` makes (the board, creating and
deleting its webhook, its open cards and recent actions) from boards held in memory, and
plays Trello's side: adding, moving and commenting on cards records an *action* shaped as
Trello's, and sends `{"model": board, "action": …}` signed as Trello signs it (base64
HMAC-SHA1 of the body and the callback URL, with the app secret) to the bot's own intake
(`DeliveryService.accept_trello`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.changes import Change, IntegrationError, ItemState
from integrations.trello.gateway import BoardInfo
from integrations.trello.items import card_state
from integrations.trello.poll import ActionPage
from integrations.trello.webhook import parse_action

Clock = Callable[[], datetime]
Advance = Callable[[timedelta], None]
# (headers, body, the callback URL it was sent to: a link's own ends in its token)
Intake = Callable[[Mapping[str, str], bytes, str], tuple[int, str]]

# (name, lists, cards already on it: (name, list)).
DEFAULT_BOARDS: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "Bin day reminders",
        ("To do", "Doing", "Done"),
        (("User research with residents", "Done"), ("Write the privacy notice", "To do")),
    ),
    ("Parking permits", ("Backlog", "In progress", "Done"), (("Map the permit zones", "Backlog"),)),
)


@dataclass(frozen=True)
class Webhook:
    id: str
    board_id: str
    callback_url: str


@dataclass
class Board:
    id: str
    name: str
    short_link: str
    lists: dict[str, str] = field(default_factory=dict)  # id → name, in board order
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → Trello's card JSON
    actions: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    @property
    def url(self) -> str:
        return f"https://trello.com/b/{self.short_link}/{_slug(self.name)}"

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "shortLink": self.short_link}

    def list_named(self, name: str) -> str:
        for list_id, list_name in self.lists.items():
            if list_name.lower() == name.strip().lower():
                return list_id
        known = ", ".join(self.lists.values())
        raise ValueError(f"{self.name} has no list “{name}”: its lists are {known}")


@dataclass(frozen=True)
class Happened:
    """What was done on Trello, and what each webhook delivery was answered."""

    what: str
    answers: tuple[tuple[int, str], ...]


def sign(secret: str, body: bytes, callback_url: str) -> str:
    """`X-Trello-Webhook`, as Trello computes it."""
    mac = hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def _hex_id(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:24]


class ConsoleTrello:
    """A couple of boards, the gateway calls the bot makes, and Trello's webhooks."""

    def __init__(
        self,
        intake: Intake,
        secret: str,
        clock: Clock,
        advance: Advance | None = None,
        boards: Iterable[tuple[str, Sequence[str], Sequence[tuple[str, str]]]] = DEFAULT_BOARDS,
    ) -> None:
        self.intake = intake
        self.secret = secret
        self.clock = clock
        self.advance = advance
        self.boards: dict[str, Board] = {}
        self.webhooks: dict[str, Webhook] = {}
        self._ids = itertools.count(1)
        self._last: datetime | None = None
        earlier = clock() - timedelta(days=30)  # the cards a board already had are old news
        for name, lists, cards in boards:
            board = Board(_hex_id("board:" + name), name, _hex_id("link:" + name)[:8])
            board.lists = {_hex_id(f"list:{name}:{n}"): n for n in lists}
            self.boards[board.id] = board
            for card_name, list_name in cards:
                self._new_card(board, card_name, board.list_named(list_name), at=earlier)

    def _now(self) -> datetime:
        """The clock in milliseconds, and after the last action (see ConsoleGitHub._now)."""
        current = self.clock()
        now = current.replace(microsecond=current.microsecond // 1000 * 1000)
        if self._last is not None and now <= self._last:
            later = self._last + timedelta(milliseconds=1)
            if self.advance is not None:
                self.advance(later - self.clock())
            now = later
        self._last = now
        return now

    # The gateway (what LinkService calls) ------------------------------------------------

    def find_board(self, ref: str) -> Board:
        """A board by its URL, short link, id or name (any case)."""
        ref = ref.strip().strip("<>").split("|")[0].rstrip("/")
        if "trello.com/b/" in ref:
            ref = ref.split("trello.com/b/")[1].split("/")[0]
        for board in self.boards.values():
            names = (board.id, board.short_link.lower(), board.name.lower(), _slug(board.name))
            if ref.lower() in names:
                return board
        raise IntegrationError(f"board lookup: Trello answered 404 for {ref!r}", status=404)

    def board(self, ref: str) -> BoardInfo:
        found = self.find_board(ref)
        return BoardInfo(id=found.id, name=found.name, url=found.url, short_link=found.short_link)

    def create_webhook(self, board_id: str, callback_url: str, description: str) -> str:
        if board_id not in self.boards:
            raise IntegrationError("webhook creation: Trello answered 400", status=400)
        hook = Webhook(_hex_id(f"hook:{next(self._ids)}"), board_id, callback_url)
        self.webhooks[hook.id] = hook
        return hook.id

    def delete_webhook(self, webhook_id: str) -> None:
        self.webhooks.pop(webhook_id, None)

    def actions_since(
        self, board_id: str, since_action_id: str | None, limit: int = 100
    ) -> ActionPage:
        board = self.boards[board_id]
        ids = [action["id"] for action in board.actions]
        start = ids.index(since_action_id) + 1 if since_action_id in ids else 0
        newer = board.actions[start:] if since_action_id else board.actions[-limit:]
        changes: list[Change] = []
        for action in newer:
            changes.extend(parse_action(action, board.json()))
        newest = ids[-1] if ids else since_action_id
        return ActionPage(tuple(changes), newest)

    def open_cards(self, board_id: str) -> tuple[ItemState, ...]:
        board = self.boards[board_id]
        return tuple(
            card_state(card, board.id, board.name, board.lists[card["idList"]])
            for card in board.cards.values()
            if not card["closed"]
        )

    # Playing Trello's side ---------------------------------------------------------------

    def find_card(self, ref: str) -> tuple[Board, dict[str, Any]]:
        """A card by its number (`3`, `#3`) or words of its name, on any board (a linked
        board first, when the number is on several)."""
        wanted = ref.strip().lstrip("#").lower()
        found = [
            (board, card)
            for board in self.boards.values()
            for card in board.cards.values()
            if not card["closed"]
            and (str(card["idShort"]) == wanted or wanted in card["name"].lower())
        ]
        if not found:
            raise ValueError(f"No open card matches “{ref}”. `:trello boards` lists them.")
        hooked = {hook.board_id for hook in self.webhooks.values()}
        if len(found) > 1 and sum(board.id in hooked for board, _ in found) == 1:
            # Card numbers repeat from board to board: the linked board is the one meant.
            found = [(board, card) for board, card in found if board.id in hooked]
        if len(found) > 1:
            names = "; ".join(f"#{c['idShort']} {c['name']} ({b.name})" for b, c in found[:6])
            raise ValueError(f"“{ref}” matches several cards: {names}. Use more of its name.")
        return found[0]

    def add(self, board_ref: str, name: str, *, by: str, list_name: str = "") -> Happened:
        """Someone adds a card, to the board's first list unless `list_name` says."""
        board = self.find_board(board_ref)
        list_id = board.list_named(list_name) if list_name else next(iter(board.lists))
        card = self._new_card(board, name, list_id)
        what = (
            f"{by} added card #{card['idShort']} “{name}” to {board.lists[list_id]} on {board.name}"
        )
        data = {"list": {"id": list_id, "name": board.lists[list_id]}}
        return self._act(board, card, "createCard", by, what, data)

    def move(self, card_ref: str, list_name: str, *, by: str) -> Happened:
        """Someone moves a card to another list (into a list named like Done: a give)."""
        board, card = self.find_card(card_ref)
        before, after = card["idList"], board.list_named(list_name)
        if before == after:
            raise ValueError(f"“{card['name']}” is already in {board.lists[after]}")
        card["idList"] = after
        what = (
            f"{by} moved “{card['name']}” from {board.lists[before]} to {board.lists[after]} "
            f"on {board.name}"
        )
        data = {
            "listBefore": {"id": before, "name": board.lists[before]},
            "listAfter": {"id": after, "name": board.lists[after]},
            "old": {"idList": before},
        }
        return self._act(board, card, "updateCard", by, what, data)

    def comment(self, card_ref: str, text: str, *, by: str) -> Happened:
        board, card = self.find_card(card_ref)
        card["badges"]["comments"] += 1
        what = f"{by} commented on “{card['name']}” on {board.name}: “{text}”"
        data = {"text": text, "list": {"id": card["idList"], "name": board.lists[card["idList"]]}}
        return self._act(board, card, "commentCard", by, what, data)

    # Building and sending ----------------------------------------------------------------

    def _new_card(
        self, board: Board, name: str, list_id: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        number = len(board.cards) + 1
        card_id = _hex_id(f"card:{board.id}:{number}")
        card: dict[str, Any] = {
            "id": card_id,
            "idShort": number,
            "name": name,
            "shortLink": card_id[-8:],
            "idList": list_id,
            "idBoard": board.id,
            "closed": False,
            "labels": [],
            "members": [],
            "badges": {"comments": 0},
            "due": None,
            "dateLastActivity": self._stamp(at),
        }
        board.cards[card_id] = card
        return card

    def _stamp(self, at: datetime | None = None) -> str:
        now = at or self._now()
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def _act(
        self,
        board: Board,
        card: dict[str, Any],
        kind: str,
        by: str,
        what: str,
        data: Mapping[str, Any],
    ) -> Happened:
        moment = self._now()
        when = self._stamp(moment)
        card["dateLastActivity"] = when
        action = {
            "id": f"{int(moment.timestamp()):08x}{next(self._ids):016x}",
            "type": kind,
            "date": when,
            "memberCreator": {"username": by},
            "data": {
                "board": board.json(),
                "card": {
                    "id": card["id"],
                    "idShort": card["idShort"],
                    "name": card["name"],
                    "shortLink": card["shortLink"],
                    "idList": card["idList"],
                },
                **data,
            },
        }
        board.actions.append(action)
        body = json.dumps({"model": board.json(), "action": action}).encode()
        answers = []
        for hook in self.webhooks.values():
            if hook.board_id == board.id:
                headers = {"x-trello-webhook": sign(self.secret, body, hook.callback_url)}
                answers.append(self.intake(headers, body, hook.callback_url))
        return Happened(what, tuple(answers))
