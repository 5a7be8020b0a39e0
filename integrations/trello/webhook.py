"""Trello webhooks: signature check, the dispatch table, and actions parsed into `Change`s.

Trello describes every change as an *action* (`{"id", "type", "date", "data",
"memberCreator"}`), the same object whether it arrives in a webhook body
(`{"model": …, "action": …}`) or from `GET /boards/{id}/actions` when polling, so one parser
serves both and the dedupe key (`trello:<action id>`) is the same either way.

`parse_action` looks up `HANDLERS[dispatch_key(action)]`; types in `IGNORED`, and any we do
not know, give `[]`. Items, credits and keys come from `items.py`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.changes import Change, MalformedPayload
from integrations.trello.items import (
    action_card_state,
    action_key,
    card_done_credit,
    looks_done,
)
from integrations.trello.payloads import Action, ActionData, Named

log = logging.getLogger(__name__)

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


# -- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Action:
    """An action a handler reads: checked once, with its board and date settled."""

    action: Action
    board: Named
    occurred_at: datetime

    @property
    def id(self) -> str:
        return self.action.id

    @property
    def data(self) -> ActionData:
        return self.action.data

    @property
    def actor(self) -> str | None:
        return self.action.member_creator.username or None


Handler = Callable[[_Action], Change | None]

# The updateCard fields we report, in the order that decides when several changed at once.
_UPDATE_CARD_FIELDS = ("idList", "closed", "name", "desc", "due")
_MONTHS = "January February March April May June July August September October November December"


def dispatch_key(action: Mapping[str, Any] | Action) -> str:
    """The HANDLERS key of an action: its type, and for updateCard which field changed.

    updateCard covers many edits; `data.old` holds the previous value of what changed.
    A bare "updateCard" key means none we report (pos, cover, dueComplete, …).
    """
    read = action if isinstance(action, Action) else Action.model_validate(action)
    if read.type != "updateCard":
        return read.type
    old = read.data.old
    return next((f"updateCard:{name}" for name in _UPDATE_CARD_FIELDS if name in old), read.type)


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
    read = Action.model_validate(action)
    if not read.id:
        raise MalformedPayload("action has no id")
    if not read.type:
        raise MalformedPayload("action has no type")
    key = dispatch_key(read)
    handler = HANDLERS.get(key)
    if handler is None:
        log.debug("ignoring Trello action %s (%s)", key, read.id)
        return []
    if read.date is None:
        raise MalformedPayload(f"action {read.id} has no valid date")
    where = read.data.board or Named.model_validate(board or {})
    change = handler(_Action(read, where, read.date))
    return [] if change is None else [change]


def _change(
    a: _Action,
    action: str,
    summary: str,
    *,
    deleted: bool = False,
    state_change: bool = False,
    comment: str | None = None,
    done_list: str = "",
    **item: Any,
) -> Change | None:
    """One Change about the action's card; None when the action names no card. `item`
    holds the card's fields the action tells (see `action_card_state`)."""
    card = a.data.card
    if not card.id:
        log.debug("Trello action %s (%s) names no card", a.id, a.action.type)
        return None
    state = action_card_state(card, a.board, a.occurred_at, **item)
    done = bool(done_list) and looks_done(done_list)
    return Change(
        source="trello",
        container=a.board.id,
        action=action,
        summary=summary,
        occurred_at=a.occurred_at,
        dedupe_key=action_key(a.id),
        actor=a.actor,
        item=state,
        item_key=state.key,
        deleted=deleted,
        state_change=state_change,
        comment=comment,
        comment_delta=1 if comment is not None else 0,
        credits=card_done_credit(state, card.id, a.actor) if done else (),
        destination=done_list or None,
        done=done,
    )


def _words(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _by(a: _Action) -> str:
    return f"by {a.actor}" if a.actor else ""


def _created(a: _Action) -> Change | None:
    where = a.data.list_.name
    summary = _words("created", _by(a), f"in {where}" if where else "")
    return _change(a, "opened", summary, state=where, state_change=True, done_list=where)


def _copied(a: _Action) -> Change | None:
    where, source = a.data.list_.name, a.data.card_source.name
    summary = f"copied from “{source}”" if source else "copied from another card"
    return _change(a, "opened", summary, state=where, state_change=True, done_list=where)


def _moved(a: _Action) -> Change | None:
    before, after = a.data.list_before.name, a.data.list_after.name
    route = f"{before} → {after}" if before else f"to {after or 'another list'}"
    summary = _words("moved", route, _by(a))
    return _change(a, "moved", summary, state=after, state_change=True, done_list=after)


def _renamed(a: _Action) -> Change | None:
    return _change(a, "renamed", f"renamed from “{_old(a, 'name')}”")


def _described(a: _Action) -> Change | None:
    removed = bool(_old(a, "desc")) and not a.data.card.desc
    return _change(a, "edited", "description removed" if removed else "description updated")


def _old(a: _Action, field: str) -> str:
    value = a.data.old.get(field)
    return value if isinstance(value, str) else ""


def _due(a: _Action) -> Change | None:
    due = a.data.card.due
    if due is None:
        return _change(a, "due_changed", "due date removed")
    # The date in UTC: the renderer shows item.due in the network's time zone.
    day = f"{due.day} {_MONTHS.split()[due.month - 1]} {due.year}"
    return _change(a, "due_changed", f"due date set to {day}", due=due)


def _archived(a: _Action) -> Change | None:
    if a.data.card.closed:
        return _change(a, "archived", "archived", state_change=True)
    return _change(a, "unarchived", "restored from the archive", state_change=True)


def _deleted(a: _Action) -> Change | None:
    # Trello sends no name for a deleted card (title ""): the mirror keeps the stored one.
    return _change(a, "deleted", "deleted", closed=True, deleted=True, state_change=True)


def _member(a: _Action, added: bool) -> Change | None:
    username = a.action.member.username
    who = username or a.data.member.name or "a member"
    action, verb = ("assigned", "added") if added else ("unassigned", "removed")
    return _change(a, action, f"{verb} {who}", people=(username,) if username else ())


def _label(a: _Action, added: bool) -> Change | None:
    name = a.data.label.text or a.data.text
    action, verb = ("labeled", "added") if added else ("unlabeled", "removed")
    return _change(a, action, f"{verb} label “{name}”", labels=(name,) if name else ())


def _commented(a: _Action) -> Change | None:
    return _change(a, "commented", "commented", comment=a.data.text)


def _checklist(a: _Action) -> Change | None:
    return _change(a, "checklist_added", f"checklist “{a.data.checklist.name}” added")


def _check_item(a: _Action) -> Change | None:
    item = a.data.check_item
    verb = "checked" if item.state == "complete" else "unchecked"
    return _change(a, verb, f"{verb} “{item.name}” in “{a.data.checklist.name}”")


def _attached(a: _Action) -> Change | None:
    attachment = a.data.attachment
    return _change(a, "attached", f"attached “{attachment.name or attachment.url}”")


def _moved_in(a: _Action) -> Change | None:
    where = a.data.list_.name
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
