"""Trello: webhook signatures, actions parsed into `Change`s, and the gateway the services use.

Trello describes every change as an *action* (`{"id", "type", "date", "data",
"memberCreator"}`), the same object whether it arrives in a webhook body
(`{"model": …, "action": …}`) or from `GET /boards/{id}/actions` when polling, so one parser
serves both and the dedupe key (`trello:<action id>`) is the same either way.

An action carries only what changed, so the `ItemState` of a Trello change is a partial
picture that the mirror merges into what it stored (see the conventions in `parse_action`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.changes import Change, Credit, ItemState, MalformedPayload
from integrations.trello.gateway import (
    ActionPage,
    BoardInfo,
    TrelloGateway,
    card_url,
    obj,
    parse_time,
    text,
)
from integrations.trello.gateway import label_name as _label_name

log = logging.getLogger(__name__)

__all__ = [
    "HANDLERS",
    "IGNORED",
    "ActionPage",
    "BoardInfo",
    "TrelloGateway",
    "callback_signature",
    "dispatch_key",
    "looks_done",
    "parse",
    "parse_action",
    "verify_signature",
]

# -- signatures -------------------------------------------------------------------------------


def callback_signature(secret: str, body: bytes, callback_url: str) -> str:
    """`X-Trello-Webhook` as Trello computes it: base64 HMAC-SHA1 of body + callback URL."""
    mac = hmac.new(secret.encode("utf-8"), body + callback_url.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_signature(secret: str, body: bytes, callback_url: str, header: str | None) -> bool:
    """True when `header` is Trello's signature of `body` for this callback URL and secret."""
    if not header or not secret:  # an empty key is a key anyone can sign with
        return False
    expected = callback_signature(secret, body, callback_url).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8"))


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


# -- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Action:
    """The parts of an action every handler needs, checked once."""

    id: str
    type: str
    data: Mapping[str, Any]
    raw: Mapping[str, Any]
    actor: str | None
    occurred_at: datetime
    board_id: str
    board_name: str

    @property
    def card(self) -> Mapping[str, Any]:
        return obj(self.data, "card")

    @property
    def old(self) -> Mapping[str, Any]:
        return obj(self.data, "old")


Handler = Callable[[_Action], Change | None]

# The updateCard fields we report, in the order that decides when several changed at once.
_UPDATE_CARD_FIELDS = ("idList", "closed", "name", "desc", "due")
_MONTHS = "January February March April May June July August September October November December"


def dispatch_key(action: Mapping[str, Any]) -> str:
    """The HANDLERS key of an action: its type, and for updateCard which field changed.

    updateCard covers many edits; `data.old` holds the previous value of what changed.
    A bare "updateCard" key means none we report (pos, cover, dueComplete, …).
    """
    kind = text(action, "type")
    if kind != "updateCard":
        return kind
    old = obj(obj(action, "data"), "old")
    return next((f"updateCard:{name}" for name in _UPDATE_CARD_FIELDS if name in old), kind)


def parse(payload: object) -> list[Change]:
    """The changes in one webhook body `{"model": …, "action": …}`; [] when not ours.

    Raises MalformedPayload (answered 400) when the body is not an object with an action
    that has an id and a type.
    """
    if not isinstance(payload, dict):
        raise MalformedPayload("body is not a JSON object")
    action = payload.get("action")
    if not isinstance(action, dict):
        raise MalformedPayload("body has no action object")
    return parse_action(action)


def parse_action(action: object, board: Mapping[str, Any] | None = None) -> list[Change]:
    """The changes of one Trello action, from a webhook or from the REST API; [] if ignored.

    `board` ({"id", "name"}) is used only when the action lacks `data.board`. Conventions
    agreed with the mirror service, because an action carries only what changed:
    `item.labels` / `item.people` hold the one label / username added or removed for
    labeled / unlabeled / assigned / unassigned and are empty otherwise; `item.state` is the
    card's list when the action names it, else "" (keep the stored one); `item.closed` is
    only meaningful for archived / unarchived / deleted; `item.due` for due_changed.
    """
    if not isinstance(action, dict):
        raise MalformedPayload("action is not a JSON object")
    action_id, kind = text(action, "id"), text(action, "type")
    if not action_id:
        raise MalformedPayload("action has no id")
    if not kind:
        raise MalformedPayload("action has no type")
    handler = HANDLERS.get(dispatch_key(action))
    if handler is None:
        log.debug("ignoring Trello action %s (%s)", dispatch_key(action), action_id)
        return []
    occurred_at = parse_time(action.get("date"))
    if occurred_at is None:
        raise MalformedPayload(f"action {action_id} has no valid date")
    data = obj(action, "data")
    where = obj(data, "board") or board or {}
    context = _Action(
        id=action_id,
        type=kind,
        data=data,
        raw=action,
        actor=text(obj(action, "memberCreator"), "username") or None,
        occurred_at=occurred_at,
        board_id=text(where, "id"),
        board_name=text(where, "name"),
    )
    change = handler(context)
    return [] if change is None else [change]


def _change(
    a: _Action,
    action: str,
    summary: str,
    *,
    state: str = "",
    labels: tuple[str, ...] = (),
    people: tuple[str, ...] = (),
    due: datetime | None = None,
    closed: bool | None = None,
    deleted: bool = False,
    state_change: bool = False,
    comment: str | None = None,
    done_list: str = "",
) -> Change | None:
    """One Change about the action's card; None when the action names no card."""
    card = a.card
    card_id = text(card, "id")
    if not card_id:
        log.debug("Trello action %s (%s) names no card", a.id, a.type)
        return None
    id_short = card.get("idShort")
    item = ItemState(
        source="trello",
        key=f"trello:{card_id}",
        container=a.board_id,
        container_name=a.board_name,
        kind="card",
        number=id_short if isinstance(id_short, int) else None,
        title=text(card, "name"),
        url=card_url(text(card, "shortLink")),
        state=state,
        closed=card.get("closed") is True if closed is None else closed,
        labels=labels,
        people=people,
        due=due,
        updated_at=a.occurred_at,
    )
    credits: tuple[Credit, ...] = ()
    if done_list and a.actor and looks_done(done_list):
        credits = (
            Credit(
                kind="give",
                source="trello:card_done",
                login=a.actor,
                dedupe_key=f"trello:card_done:{card_id}",
                description=_words(
                    f"finished “{item.title}”", a.board_name and f"on {a.board_name}"
                ),
            ),
        )
    return Change(
        source="trello",
        container=a.board_id,
        action=action,
        summary=summary,
        occurred_at=a.occurred_at,
        dedupe_key=f"trello:{a.id}",
        actor=a.actor,
        item=item,
        item_key=item.key,
        deleted=deleted,
        state_change=state_change,
        comment=comment,
        comment_delta=1 if comment is not None else 0,
        credits=credits,
        destination=done_list or None,
        done=bool(done_list) and looks_done(done_list),
    )


def _words(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _by(a: _Action) -> str:
    return f"by {a.actor}" if a.actor else ""


def _list_name(a: _Action, key: str = "list") -> str:
    return text(obj(a.data, key), "name")


def _created(a: _Action) -> Change | None:
    where = _list_name(a)
    summary = _words("created", _by(a), f"in {where}" if where else "")
    return _change(a, "opened", summary, state=where, state_change=True, done_list=where)


def _copied(a: _Action) -> Change | None:
    where, source = _list_name(a), text(obj(a.data, "cardSource"), "name")
    summary = f"copied from “{source}”" if source else "copied from another card"
    return _change(a, "opened", summary, state=where, state_change=True, done_list=where)


def _moved(a: _Action) -> Change | None:
    before, after = _list_name(a, "listBefore"), _list_name(a, "listAfter")
    route = f"{before} → {after}" if before else f"to {after or 'another list'}"
    summary = _words("moved", route, _by(a))
    return _change(a, "moved", summary, state=after, state_change=True, done_list=after)


def _renamed(a: _Action) -> Change | None:
    return _change(a, "renamed", f"renamed from “{text(a.old, 'name')}”")


def _described(a: _Action) -> Change | None:
    removed = bool(text(a.old, "desc")) and not text(a.card, "desc")
    return _change(a, "edited", "description removed" if removed else "description updated")


def _due(a: _Action) -> Change | None:
    due = parse_time(a.card.get("due"))
    if due is None:
        return _change(a, "due_changed", "due date removed")
    # The date in UTC: the renderer shows item.due in the network's time zone.
    day = f"{due.day} {_MONTHS.split()[due.month - 1]} {due.year}"
    return _change(a, "due_changed", f"due date set to {day}", due=due)


def _archived(a: _Action) -> Change | None:
    if a.card.get("closed") is True:
        return _change(a, "archived", "archived", state_change=True)
    return _change(a, "unarchived", "restored from the archive", state_change=True)


def _deleted(a: _Action) -> Change | None:
    # Trello sends no name for a deleted card (title ""): the mirror keeps the stored one.
    return _change(a, "deleted", "deleted", closed=True, deleted=True, state_change=True)


def _member(a: _Action, added: bool) -> Change | None:
    username = text(obj(a.raw, "member"), "username")
    who = username or text(obj(a.data, "member"), "name") or "a member"
    action, verb = ("assigned", "added") if added else ("unassigned", "removed")
    return _change(a, action, f"{verb} {who}", people=(username,) if username else ())


def _label(a: _Action, added: bool) -> Change | None:
    label = obj(a.data, "label")
    name = _label_name(label) or text(a.data, "text")
    action, verb = ("labeled", "added") if added else ("unlabeled", "removed")
    return _change(a, action, f"{verb} label “{name}”", labels=(name,) if name else ())


def _commented(a: _Action) -> Change | None:
    return _change(a, "commented", "commented", comment=text(a.data, "text"))


def _checklist(a: _Action) -> Change | None:
    name = text(obj(a.data, "checklist"), "name")
    return _change(a, "checklist_added", f"checklist “{name}” added")


def _check_item(a: _Action) -> Change | None:
    item = obj(a.data, "checkItem")
    checked = text(item, "state") == "complete"
    where = text(obj(a.data, "checklist"), "name")
    verb = "checked" if checked else "unchecked"
    return _change(a, verb, f"{verb} “{text(item, 'name')}” in “{where}”")


def _attached(a: _Action) -> Change | None:
    attachment = obj(a.data, "attachment")
    name = text(attachment, "name") or text(attachment, "url")
    return _change(a, "attached", f"attached “{name}”")


def _moved_in(a: _Action) -> Change | None:
    where = _list_name(a)
    summary = _words("moved here from another board", f"into {where}" if where else "")
    return _change(a, "moved_in", summary, state=where, state_change=True, done_list=where)


def _moved_out(a: _Action) -> Change | None:
    return _change(a, "moved_out", "moved to another board", deleted=True, state_change=True)


HANDLERS: dict[str, Handler] = {
    "createCard": _created,
    "copyCard": _copied,
    "updateCard:idList": _moved,
    "updateCard:name": _renamed,
    "updateCard:desc": _described,
    "updateCard:due": _due,
    "updateCard:closed": _archived,
    "deleteCard": _deleted,
    "addMemberToCard": lambda a: _member(a, True),
    "removeMemberFromCard": lambda a: _member(a, False),
    "addLabelToCard": lambda a: _label(a, True),
    "removeLabelFromCard": lambda a: _label(a, False),
    "commentCard": _commented,
    "addChecklistToCard": _checklist,
    "updateCheckItemStateOnCard": _check_item,
    "addAttachmentToCard": _attached,
    "moveCardToBoard": _moved_in,
    "moveCardFromBoard": _moved_out,
}

# Seen on boards and deliberately dropped (anything unknown is dropped too); listed so a reader
# can tell "decided to ignore" from "not thought about". A bare "updateCard" changed only
# pos, cover, dueComplete, idAttachmentCover or another field we do not show.
IGNORED = frozenset(
    """
    updateCard createCheckItem updateCheckItem deleteCheckItem updateChecklist
    removeChecklistFromCard copyCommentCard updateComment deleteComment deleteAttachmentFromCard
    createList updateList moveListToBoard moveListFromBoard createBoard updateBoard
    addMemberToBoard removeMemberFromBoard makeNormalMemberOfBoard makeAdminOfBoard
    addToOrganizationBoard createLabel updateLabel deleteLabel createCustomField
    updateCustomField updateCustomFieldItem enablePlugin disablePlugin enablePowerUp
    disablePowerUp voteOnCard
    """.split()
)
