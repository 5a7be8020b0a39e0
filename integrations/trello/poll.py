"""Polling a board: the changes in a page of `GET /boards/{id}/actions`.

Trello keeps every change as an action, so a poll needs no comparison with what was stored:
the actions after the last one seen are the changes, parsed exactly as webhook deliveries
are (same dedupe keys), oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from integrations.changes import Change, MalformedPayload
from integrations.trello.webhook import HANDLERS, parse_action

log = logging.getLogger(__name__)

# The action types worth asking for, so the many we drop do not use up pages.
ACTION_TYPES = ",".join(sorted({key.split(":")[0] for key in HANDLERS}))


@dataclass(frozen=True)
class ActionPage:
    """What a poll found: changes oldest first, and the cursor for the next poll."""

    changes: tuple[Change, ...]
    newest_action_id: str | None  # the since_action_id given when nothing is new


def action_id(action: Mapping[str, Any]) -> str:
    """An action's id, "" when it has none."""
    value = action.get("id")
    return value if isinstance(value, str) else ""


def action_page(
    newest_first: Sequence[Mapping[str, Any]], board_id: str, since_action_id: str | None
) -> ActionPage:
    """The changes of actions as Trello lists them (newest first, pages joined), each once."""
    changes: list[Change] = []
    seen: set[str] = set()
    for action in reversed(newest_first):
        if action_id(action) in seen:
            continue
        seen.add(action_id(action))
        try:
            changes.extend(parse_action(action, {"id": board_id}))
        except MalformedPayload as exc:  # one odd action must not stop the poll
            log.warning("skipping a Trello action on board %s: %s", board_id, exc)
    newest = action_id(newest_first[0]) if newest_first else ""
    return ActionPage(tuple(changes), newest or since_action_id)
