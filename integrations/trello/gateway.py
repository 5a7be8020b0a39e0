"""Trello's REST API as the services need it, behind py-trello; every failure an IntegrationError.

py-trello 0.20.1 is the only Trello client we use and this is the only module that touches
it: it is unmaintained, hard-codes https://api.trello.com/1, raises one exception type for
every non-200 answer (429 included) and never retries. So its requests go through a
`requests.Session` that rewrites that prefix to our `base_url` (`TRELLO_API_URL`: a fake on
127.0.0.1 in tests) and adds a timeout, and its errors become `IntegrationError`s whose
messages never carry the key or token (they travel in the query string, which requests puts
in its own error messages).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from trello import TrelloClient
from trello.exceptions import ResourceUnavailable

from integrations.changes import Change, IntegrationError, ItemState, MalformedPayload

log = logging.getLogger(__name__)

TRELLO_API = "https://api.trello.com/1"
_MAX_PAGES = 10  # a board that changed more than this between polls loses its oldest changes
_BOARD_URL = re.compile(r"(?:https?://)?(?:www\.)?trello\.com/b/([A-Za-z0-9]+)(?:[/?#].*)?", re.I)


# -- reading Trello JSON ----------------------------------------------------------------------


def obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """`data[key]` when it is an object, else {}: Trello leaves out what did not change."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def text(data: Mapping[str, Any], key: str) -> str:
    """`data[key]` when it is a string, else ""."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def card_url(short_link: str) -> str:
    """A card's permanent link ("" when the short link is unknown)."""
    return f"https://trello.com/c/{short_link}" if short_link else ""


def parse_time(value: object) -> datetime | None:
    """Trello's ISO 8601 times ("2016-05-13T08:44:53.897Z") as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def label_name(label: Mapping[str, Any]) -> str:
    """A label's text, or its colour when it has none (as Trello shows it)."""
    return text(label, "name") or text(label, "color")


def board_path(ref: str) -> str:
    """`/boards/<ref>` for a board URL, short link or id (Trello accepts either of the last).

    Anything else is sent quoted, so Trello answers 400/404 instead of us guessing.
    """
    ref = ref.strip().strip("<>").split("|", 1)[0].strip()
    match = _BOARD_URL.fullmatch(ref)
    return f"/boards/{quote(match.group(1) if match else ref, safe='')}"


def card_state(
    card: Mapping[str, Any], board_id: str, board_name: str, list_name: str
) -> ItemState:
    """A card as the REST API returns it (with `members=true`), as a full ItemState."""
    members, labels = card.get("members"), card.get("labels")
    comments = obj(card, "badges").get("comments")
    id_short = card.get("idShort")
    return ItemState(
        source="trello",
        key=f"trello:{text(card, 'id')}",
        container=board_id,
        container_name=board_name,
        kind="card",
        number=id_short if isinstance(id_short, int) else None,
        title=text(card, "name"),
        url=card_url(text(card, "shortLink")),
        state=list_name,
        closed=card.get("closed") is True,
        labels=tuple(
            name
            for label in (labels if isinstance(labels, list) else [])
            if isinstance(label, dict) and (name := label_name(label))
        ),
        people=tuple(
            name
            for member in (members if isinstance(members, list) else [])
            if isinstance(member, dict) and (name := text(member, "username"))
        ),
        due=parse_time(card.get("due")),
        comments=comments if isinstance(comments, int) else None,
        updated_at=parse_time(card.get("dateLastActivity")),
    )


# -- HTTP -------------------------------------------------------------------------------------


class _RebasedSession(requests.Session):
    """Sends py-trello's requests to `base_url` instead of api.trello.com, with a timeout."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, str) and url.startswith(TRELLO_API + "/"):
            url = self.base_url + url[len(TRELLO_API) :]
        kwargs.setdefault("timeout", self.timeout)  # py-trello sets none: a hung call hangs
        return super().request(method, url, *args, **kwargs)


class TrelloRest:
    """py-trello's `fetch_json` with typed answers and our errors."""

    def __init__(self, base_url: str, api_key: str, token: str, *, timeout: float) -> None:
        self._secrets = tuple(secret for secret in (api_key, token) if secret)
        # py-trello authenticates with ?key=…&token=… only when it has no OAuth1 session:
        # TrelloClient(token=…) would sign requests with OAuth1 instead, so the user token
        # goes in api_secret, which fetch_json sends as the `token` query parameter.
        self._client = TrelloClient(
            api_key=api_key, api_secret=token, http_service=_RebasedSession(base_url, timeout)
        )

    def call(
        self,
        what: str,
        path: str,
        *,
        method: str = "GET",
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer; IntegrationError (with the HTTP status) on any failure."""
        try:
            return self._client.fetch_json(
                path,
                http_method=method,
                query_params=dict(query or {}),
                post_args=dict(body) if body is not None else None,
            )
        except ResourceUnavailable as exc:  # Unauthorized (401) is a subclass
            # py-trello keeps the status and "<body> at <url>" in private attributes only.
            status = getattr(exc, "_status", None)
            reason = str(getattr(exc, "_msg", "")).rpartition(" at http")[0].strip()
            reason = reason.splitlines()[0][:200] if reason else ""
            message = f"Trello {what} failed: HTTP {status}" + (f" ({reason})" if reason else "")
            raise IntegrationError(self._scrub(message), status=status) from None
        except requests.JSONDecodeError:
            raise IntegrationError(f"Trello {what} failed: the answer was not JSON") from None
        except requests.RequestException as exc:
            # str(exc) names the URL with ?key=…&token=…: report only what kind of failure.
            if isinstance(exc, requests.Timeout):
                kind = "timed out"
            elif isinstance(exc, requests.ConnectionError):
                kind = "could not connect"
            else:
                kind = type(exc).__name__
            raise IntegrationError(f"Trello {what} failed: {kind}") from None

    def get_object(self, what: str, path: str, query: Mapping[str, str]) -> dict[str, Any]:
        found = self.call(what, path, query=query)
        if not isinstance(found, dict):
            raise IntegrationError(f"Trello {what} failed: the answer was not an object")
        return found

    def get_list(self, what: str, path: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        found = self.call(what, path, query=query)
        if not isinstance(found, list):
            raise IntegrationError(f"Trello {what} failed: the answer was not a list")
        return [row for row in found if isinstance(row, dict)]

    def _scrub(self, message: str) -> str:
        """Belt and braces: Trello's error text should never echo the key or token."""
        for secret in self._secrets:
            message = message.replace(secret, "[redacted]")
        return message


# -- the gateway ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardInfo:
    """A Trello board as a link needs it."""

    id: str
    name: str
    url: str
    short_link: str


@dataclass(frozen=True)
class ActionPage:
    """What a poll found: changes oldest first, and the cursor for the next poll."""

    changes: tuple[Change, ...]
    newest_action_id: str | None  # the since_action_id given when nothing is new


class TrelloGateway:
    """Trello's REST API as the services need it; every failure is an IntegrationError."""

    def __init__(self, base_url: str, api_key: str, token: str, *, timeout: float = 15) -> None:
        self._rest = TrelloRest(base_url, api_key, token, timeout=timeout)

    def board(self, ref: str) -> BoardInfo:
        """A board from its URL (https://trello.com/b/<shortLink>/…), short link or id."""
        query = {"fields": "name,url,shortLink"}
        found = self._rest.get_object("board lookup", board_path(ref), query)
        short_link = text(found, "shortLink")
        return BoardInfo(
            id=text(found, "id"),
            name=text(found, "name"),
            url=text(found, "url") or f"https://trello.com/b/{short_link}",
            short_link=short_link,
        )

    def create_webhook(self, board_id: str, callback_url: str, description: str) -> str:
        """Register a webhook on a board; returns its id. Trello HEADs the URL first."""
        body = {"idModel": board_id, "callbackURL": callback_url, "description": description}
        created = self._rest.call("webhook creation", "/webhooks", method="POST", body=body)
        hook_id = text(created, "id") if isinstance(created, dict) else ""
        if not hook_id:
            raise IntegrationError("Trello webhook creation failed: the answer had no id")
        return hook_id

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook; one that is already gone (404) counts as removed."""
        path = f"/webhooks/{quote(webhook_id, safe='')}"
        try:
            self._rest.call("webhook removal", path, method="DELETE")
        except IntegrationError as exc:
            if exc.status != 404:
                raise

    def actions_since(
        self, board_id: str, since_action_id: str | None, limit: int = 100
    ) -> ActionPage:
        """The board's changes after `since_action_id`, oldest first, and the new cursor.

        Trello answers newest first, `limit` at a time, so older pages are asked for with
        `before`. Without a cursor only the newest page is read (a first look, not history).
        """
        # Imported here because integrations.trello imports this module for the gateway.
        from integrations.trello.webhook import HANDLERS, parse_action

        path = f"/boards/{quote(board_id, safe='')}/actions"
        # Fetch only the types we handle, so the many we drop do not use up pages.
        types = ",".join(sorted({key.split(":")[0] for key in HANDLERS}))
        limit = max(1, min(limit, 1000))  # Trello answers 400 outside 1–1000
        query = {"filter": types, "limit": str(limit)}
        if since_action_id:
            query["since"] = since_action_id
        newest_first: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page = self._rest.get_list("board actions", path, query)
            newest_first.extend(page)
            if len(page) < limit or not since_action_id or not text(page[-1], "id"):
                break
            query["before"] = text(page[-1], "id")
        changes: list[Change] = []
        seen: set[str] = set()
        for action in reversed(newest_first):
            if text(action, "id") in seen:
                continue
            seen.add(text(action, "id"))
            try:
                changes.extend(parse_action(action, {"id": board_id}))
            except MalformedPayload as exc:  # one odd action must not stop the poll
                log.warning("skipping a Trello action on board %s: %s", board_id, exc)
        newest = text(newest_first[0], "id") if newest_first else ""
        return ActionPage(tuple(changes), newest or since_action_id)

    def open_cards(self, board_id: str) -> tuple[ItemState, ...]:
        """Every open card in the board's open lists: what a new board summary counts."""
        board = quote(board_id, safe="")
        lists = self._rest.get_list("board lists", f"/boards/{board}/lists", {"filter": "open"})
        names = {text(row, "id"): text(row, "name") for row in lists}
        found = self._rest.get_object("board lookup", f"/boards/{board}", {"fields": "name"})
        cards = self._rest.get_list(
            "board cards",
            f"/boards/{board}/cards",
            {"filter": "open", "members": "true", "member_fields": "username"},
        )
        return tuple(
            card_state(card, board_id, text(found, "name"), names[text(card, "idList")])
            for card in cards
            if text(card, "idList") in names and card.get("closed") is not True
        )

    def help_wanted(
        self,
        board_id: str,
        pattern: str = r"help wanted|up for grabs|good first",
        limit: int = 5,
    ) -> tuple[ItemState, ...]:
        """Open cards in the board's open lists whose name matches `pattern` (any case)."""
        wanted = re.compile(pattern, re.IGNORECASE)
        board = quote(board_id, safe="")
        lists = self._rest.get_list("board lists", f"/boards/{board}/lists", {"filter": "open"})
        names = {text(row, "id"): text(row, "name") for row in lists}
        chosen = [list_id for list_id, name in names.items() if wanted.search(name)]
        if not chosen or limit <= 0:
            return ()
        found = self._rest.get_object("board lookup", f"/boards/{board}", {"fields": "name"})
        cards = self._rest.get_list(
            "board cards",
            f"/boards/{board}/cards",
            {"filter": "open", "members": "true", "member_fields": "username"},
        )
        picked = [c for c in cards if text(c, "idList") in chosen and c.get("closed") is not True]
        # Trello lists lists by position; cards by position within their list.
        picked.sort(key=lambda card: (chosen.index(text(card, "idList")), _position(card)))
        return tuple(
            card_state(card, board_id, text(found, "name"), names[text(card, "idList")])
            for card in picked[:limit]
        )


def _position(card: Mapping[str, Any]) -> float:
    pos = card.get("pos")
    return float(pos) if isinstance(pos, int | float) else 0.0
