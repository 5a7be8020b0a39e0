"""The Trello REST client, behind py-trello; every failure an IntegrationError.

py-trello 0.20.1 is the only Trello client we use and this is the only module that touches
it: it is unmaintained, hard-codes https://api.trello.com/1, raises one exception type for
every non-200 answer (429 included) and never retries. So its requests go through a
`requests.Session` that rewrites that prefix to our `base_url` (`TRELLO_API_URL`: a fake on
127.0.0.1 in tests) and adds a timeout, and its errors become `IntegrationError`s whose
messages never carry the key or token (they travel in the query string, which requests puts
in its own error messages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from trello import TrelloClient
from trello.exceptions import ResourceUnavailable

from integrations.changes import IntegrationError, ItemState
from integrations.trello.items import card_state
from integrations.trello.payloads import Board, Card, Named
from integrations.trello.poll import ACTION_TYPES, ActionPage, action_id, action_page

TRELLO_API = "https://api.trello.com/1"
_MAX_PAGES = 10  # a board that changed more than this between polls loses its oldest changes
_BOARD_URL = re.compile(r"(?:https?://)?(?:www\.)?trello\.com/b/([A-Za-z0-9]+)(?:[/?#].*)?", re.I)


# -- paths ------------------------------------------------------------------------------------


def board_path(ref: str) -> str:
    """`/boards/<ref>` for a board URL, short link or id (Trello accepts either of the last).

    Anything else is sent quoted, so Trello answers 400/404 instead of us guessing.
    """
    ref = ref.strip().strip("<>").split("|", 1)[0].strip()
    match = _BOARD_URL.fullmatch(ref)
    return f"/boards/{quote(match.group(1) if match else ref, safe='')}"


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
    # Anything but a public board: private, or visible to a workspace or enterprise only.
    private: bool = False


class TrelloGateway:
    """Trello's REST API as the services need it; every failure is an IntegrationError."""

    def __init__(self, base_url: str, api_key: str, token: str, *, timeout: float = 15) -> None:
        self._rest = TrelloRest(base_url, api_key, token, timeout=timeout)

    def board(self, ref: str) -> BoardInfo:
        """A board from its URL (https://trello.com/b/<shortLink>/…), short link or id."""
        query = {"fields": "name,url,shortLink,prefs"}
        raw = self._rest.get_object("board lookup", board_path(ref), query)
        found = Board.model_validate(raw)
        prefs = raw.get("prefs")
        level = prefs.get("permissionLevel") if isinstance(prefs, dict) else None
        return BoardInfo(
            id=found.id,
            name=found.name,
            url=found.url or f"https://trello.com/b/{found.short_link}",
            short_link=found.short_link,
            private=level != "public",  # unknown counts as private: never leak by default
        )

    def board_members(self, board_id: str) -> tuple[str, ...]:
        """The usernames of a board's members, lower case."""
        path = f"/boards/{quote(board_id, safe='')}/members"
        members = self._rest.get_list("board members", path, {"fields": "username"})
        return tuple(str(m.get("username", "")).lower() for m in members if m.get("username"))

    def create_webhook(self, board_id: str, callback_url: str, description: str) -> str:
        """Register a webhook on a board; returns its id. Trello HEADs the URL first."""
        body = {"idModel": board_id, "callbackURL": callback_url, "description": description}
        created = self._rest.call("webhook creation", "/webhooks", method="POST", body=body)
        hook_id = action_id(created) if isinstance(created, dict) else ""
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
        path = f"/boards/{quote(board_id, safe='')}/actions"
        limit = max(1, min(limit, 1000))  # Trello answers 400 outside 1–1000
        query = {"filter": ACTION_TYPES, "limit": str(limit)}
        if since_action_id:
            query["since"] = since_action_id
        newest_first: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page = self._rest.get_list("board actions", path, query)
            newest_first.extend(page)
            if len(page) < limit or not since_action_id or not action_id(page[-1]):
                break
            query["before"] = action_id(page[-1])
        return action_page(newest_first, board_id, since_action_id)

    def open_cards(self, board_id: str) -> tuple[ItemState, ...]:
        """Every open card in the board's open lists: what a new board summary counts."""
        board = quote(board_id, safe="")
        lists = self._rest.get_list("board lists", f"/boards/{board}/lists", {"filter": "open"})
        names = {row.id: row.name for row in map(Named.model_validate, lists)}
        found = self._rest.get_object("board lookup", f"/boards/{board}", {"fields": "name"})
        name = Board.model_validate(found).name
        cards = self._rest.get_list(
            "board cards",
            f"/boards/{board}/cards",
            {"filter": "open", "members": "true", "member_fields": "username"},
        )
        return tuple(
            card_state(card, board_id, name, names[card.id_list])
            for card in map(Card.model_validate, cards)
            if card.id_list in names and not card.closed
        )
