"""A fake Trello REST API server for tests.

``FakeTrello`` is a real HTTP server on 127.0.0.1 that answers the few Trello endpoints the
bot uses, with Trello's shapes (modelled on the ruby-trello cassettes in
``tests/fixtures/trello/rest/``) and Trello's ways: key and token as query parameters (a
wrong one gets 401 ``invalid key`` / ``invalid token``), board actions newest first with
``since`` / ``before`` action ids and ``limit``, and plain-text error bodies. Point
``TrelloGateway`` (or ``TRELLO_API_URL``) at ``fake.base_url``. Every request is recorded
as a :class:`Request`.

Typical use::

    with FakeTrello() as fake:
        fake.add_board("5e93ba98614ac22d22f085c4", "IT 2", "y1TF9GTa")
        fake.add_action("5e93ba98614ac22d22f085c4", action)
        gateway = TrelloGateway(fake.base_url, fake.api_key, fake.token)
        ...
        [request] = fake.requests_to("GET", "/1/boards/5e93ba98614ac22d22f085c4/actions")
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes._serving import ServedInThread

NOT_FOUND = "The requested resource was not found."
_BOARD_ROUTE = re.compile(r"/1/boards/([^/]+)(?:/(lists|cards|actions|members))?")
_WEBHOOK_ROUTE = re.compile(r"/1/webhooks(?:/([^/]+))?")


@dataclass(frozen=True)
class Request:
    """One recorded request: path without the query, query as a dict, the decoded body
    (JSON, or form fields as a dict; None when empty) and the status it was answered with."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int


class _Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str


def _json(payload: Any, status: int = 200) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), "application/json; charset=utf-8")


def _text(message: str, status: int) -> _Reply:
    return _Reply(status, message.encode(), "text/plain; charset=utf-8")


class _Failure:
    def __init__(self, prefix: str, status: int, times: int) -> None:
        self.prefix, self.status, self.left = prefix, status, times


class FakeTrello(ServedInThread):
    """Fake Trello REST API on a free 127.0.0.1 port; see the module docstring."""

    def __init__(self, api_key: str = "fake-trello-key", token: str = "fake-trello-token") -> None:
        self.api_key = api_key
        self.token = token
        self._lock = threading.RLock()
        self._requests: list[Request] = []
        self._boards: dict[str, dict[str, Any]] = {}
        self._lists: dict[str, list[dict[str, Any]]] = {}
        self._cards: dict[str, list[dict[str, Any]]] = {}
        self._actions: dict[str, list[dict[str, Any]]] = {}  # oldest first
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._members: dict[str, list[dict[str, Any]]] = {}  # board id -> its members
        self._failures: list[_Failure] = []
        self._refusal: tuple[int, str] | None = None
        self._member_tokens: dict[str, dict[str, Any]] = {}  # a person's token -> member
        self._ids = itertools.count(1)
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """API base, ``http://127.0.0.1:PORT/1`` (what ``https://api.trello.com/1`` is)."""
        return f"http://127.0.0.1:{self.port}/1"

    # -- the world ----------------------------------------------------------------------------

    def _new_id(self) -> str:
        """A 24-hex id like Trello's (ours sort after any real 2016–2020 fixture id)."""
        return f"f{next(self._ids):023x}"

    def add_board(
        self, id: str, name: str, short_link: str, *, private: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """A board, findable by id or short link; `fields` are merged into its JSON.
        ``private``: only its members see it (Trello's ``prefs.permissionLevel``)."""
        board = {
            "id": id,
            "name": name,
            "desc": "",
            "closed": False,
            "url": f"https://trello.com/b/{short_link}/{re.sub(r'[^a-z0-9]+', '-', name.lower())}",
            "shortUrl": f"https://trello.com/b/{short_link}",
            "shortLink": short_link,
            "prefs": {"permissionLevel": "private" if private else "public"},
            **fields,
        }
        with self._lock:
            self._boards[id] = board
            self._lists.setdefault(id, [])
            self._cards.setdefault(id, [])
            self._actions.setdefault(id, [])
        return board

    def add_board_member(self, board_id: str, username: str) -> None:
        """Make ``username`` a member of the board (``GET /1/boards/{id}/members``)."""
        with self._lock:
            members = self._members.setdefault(board_id, [])
            members.append({"id": f"5{len(members):023x}", "username": username})

    def add_list(
        self, board_id: str, id: str, name: str, *, closed: bool = False, pos: float | None = None
    ) -> dict[str, Any]:
        """A list on a board; positions default to the order lists are added in."""
        with self._lock:
            lists = self._lists[board_id]
            position = pos if pos is not None else 65535.0 * (len(lists) + 1)
            row = {"id": id, "name": name, "closed": closed, "pos": position, "idBoard": board_id}
            lists.append(row)
        return row

    def add_card(
        self,
        board_id: str,
        list_id: str,
        id: str,
        name: str,
        *,
        id_short: int | None = None,
        short_link: str | None = None,
        closed: bool = False,
        labels: Iterable[str | tuple[str, str]] = (),
        members: Iterable[str] = (),
        due: str | None = None,
        pos: float | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A card; `labels` are names or (name, colour); `members` are usernames."""
        with self._lock:
            cards = self._cards[board_id]
            link = short_link or f"c{len(cards) + 1:07d}"
            card = {
                "id": id,
                "name": name,
                "idBoard": board_id,
                "idList": list_id,
                "idShort": id_short if id_short is not None else len(cards) + 1,
                "shortLink": link,
                "shortUrl": f"https://trello.com/c/{link}",
                "closed": closed,
                "pos": pos if pos is not None else 16384.0 * (len(cards) + 1),
                "due": due,
                "dateLastActivity": "2026-11-20T10:00:00.000Z",
                "labels": [_label(board_id, label) for label in labels],
                "badges": {"comments": 0},
                "_usernames": list(members),
                **fields,
            }
            card["idMembers"] = [f"member-{name}" for name in card["_usernames"]]
            cards.append(card)
        return card

    def add_action(self, board_id: str, action: dict[str, Any]) -> None:
        """A board action; each one added is newer than those before it."""
        with self._lock:
            self._actions[board_id].append(copy.deepcopy(action))

    def refuse_webhooks(
        self, status: int = 400, message: str = "URL did not return 200 status code, got 404"
    ) -> None:
        """Answer POST /1/webhooks with this status and text, as when Trello's HEAD fails."""
        with self._lock:
            self._refusal = (status, message)

    def fail_next(self, path_prefix: str, status: int = 429, times: int = 1) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`."""
        with self._lock:
            self._failures.append(_Failure(path_prefix, status, times))

    @property
    def webhooks(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._webhooks)

    # -- recorded requests --------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_prefix: str = "/") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- serving ------------------------------------------------------------------------------

    def _serve(self, method: str, target: str, content_type: str, raw: bytes) -> _Reply:
        parts = urlsplit(target)
        path = parts.path  # routed still quoted, so "%2F" in an id cannot make a new segment
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body: Any = None
        if raw and content_type.startswith("application/json"):
            body = json.loads(raw)
        elif raw:
            body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        with self._lock:
            reply = self._answer(method, path, query, body if isinstance(body, dict) else {})
            self._requests.append(Request(method, unquote(path), query, body, reply.status))
        return reply

    def _answer(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> _Reply:
        for failure in self._failures:
            if failure.left > 0 and path.startswith(failure.prefix):
                failure.left -= 1
                if failure.status == 429:
                    message = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limited"}
                    return _json(message, 429)
                return _text("fake failure", failure.status)
        if path == "/1/members/me":  # a person's own token, not the bot's
            return self._member_me(method, query)
        if query.get("key") != self.api_key:
            return _text("invalid key", 401)
        if query.get("token") != self.token:
            return _text("invalid token", 401)
        if match := _BOARD_ROUTE.fullmatch(path):
            if method != "GET":
                return _text(f"Cannot {method} {path}", 404)
            return self._board_route(unquote(match.group(1)), match.group(2), query)
        if match := _WEBHOOK_ROUTE.fullmatch(path):
            if method == "POST" and match.group(1) is None:
                return self._create_webhook({**query, **body})
            if method == "DELETE" and match.group(1) is not None:
                if self._webhooks.pop(unquote(match.group(1)), None) is None:
                    return _text(NOT_FOUND, 404)
                return _json({"_value": None})
        return _text(f"Cannot {method} {path}", 404)

    def _board_route(self, ref: str, part: str | None, query: dict[str, str]) -> _Reply:
        board = self._boards.get(ref) or next(
            (b for b in self._boards.values() if b["shortLink"] == ref), None
        )
        if board is None:
            # Trello: 400 for what cannot be an id or short link, 404 for one it does not know.
            known_shape = re.fullmatch(r"[0-9a-f]{24}|[A-Za-z0-9]{8}", ref)
            return _text(NOT_FOUND, 404) if known_shape else _text("invalid id", 400)
        if part is None:
            fields = query.get("fields", "all")
            if fields == "all":
                return _json(board)
            wanted = {"id", *fields.split(",")}
            return _json({k: v for k, v in board.items() if k in wanted})
        if part == "lists":
            return _json(self._filtered(self._lists[board["id"]], query.get("filter", "open")))
        if part == "cards":
            return _json(self._cards_of(board["id"], query))
        if part == "members":
            return _json(copy.deepcopy(self._members.get(board["id"], [])))
        return self._actions_of(board["id"], query)

    @staticmethod
    def _filtered(rows: list[dict[str, Any]], how: str) -> list[dict[str, Any]]:
        rows = sorted(rows, key=lambda row: row["pos"])
        if how in ("open", "visible"):
            return [row for row in rows if not row["closed"]]
        if how == "closed":
            return [row for row in rows if row["closed"]]
        return rows

    def _cards_of(self, board_id: str, query: dict[str, str]) -> list[dict[str, Any]]:
        list_order = {row["id"]: row["pos"] for row in self._lists[board_id]}
        cards = sorted(
            self._filtered(self._cards[board_id], query.get("filter", "visible")),
            key=lambda card: (list_order.get(card["idList"], 0), card["pos"]),
        )
        answer = []
        for card in cards:
            shown = {k: v for k, v in card.items() if not k.startswith("_")}
            if query.get("members") == "true":
                shown["members"] = [
                    {"id": f"member-{name}", "username": name} for name in card["_usernames"]
                ]
            answer.append(shown)
        return answer

    def _actions_of(self, board_id: str, query: dict[str, str]) -> _Reply:
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            return _text("invalid value for limit", 400)
        if not 0 <= limit <= 1000:
            return _text("invalid value for limit", 400)
        actions = self._actions[board_id]
        ids = [action["id"] for action in actions]

        def index(action_id: str) -> float:
            # A known id is placed where it was added; an unknown one by its value (Trello
            # ids start with their creation time, so they sort by age).
            if action_id in ids:
                return ids.index(action_id)
            return next((i - 0.5 for i, known in enumerate(ids) if known > action_id), len(ids))

        low = index(query["since"]) if query.get("since") else -1
        high = index(query["before"]) if query.get("before") else len(ids)
        types = query.get("filter", "all")
        chosen = [
            action
            for i, action in enumerate(actions)
            if low < i < high and (types == "all" or action["type"] in types.split(","))
        ]
        return _json(list(reversed(chosen))[:limit])

    def _create_webhook(self, args: dict[str, Any]) -> _Reply:
        if self._refusal is not None:
            status, message = self._refusal
            return _text(message, status)
        model, callback = args.get("idModel"), args.get("callbackURL")
        if model not in self._boards:
            return _text("invalid value for idModel", 400)
        if not isinstance(callback, str) or not callback.startswith(("http://", "https://")):
            return _text("invalid value for callbackURL", 400)
        for hook in self._webhooks.values():
            if hook["idModel"] == model and hook["callbackURL"] == callback:
                return _text("A webhook with that callback, model, and token already exists", 400)
        hook = {
            "id": self._new_id(),
            "description": str(args.get("description", "")),
            "idModel": model,
            "callbackURL": callback,
            "active": True,
            "consecutiveFailures": 0,
            "firstConsecutiveFailDate": None,
        }
        self._webhooks[hook["id"]] = hook
        return _json(hook)

    # -- a person's own token (proving a Trello account) --------------------------------

    def add_member_token(self, token: str, username: str, full_name: str = "") -> dict[str, Any]:
        """A token Trello's authorize page gave ``username`` for this fake's API key; returns
        the member ``GET /1/members/me`` answers with it."""
        member = {"id": f"5{len(self._member_tokens):023x}", "username": username}
        member["fullName"] = full_name or username.capitalize()
        with self._lock:
            self._member_tokens[token] = member
        return dict(member)

    def _member_me(self, method: str, query: dict[str, str]) -> _Reply:
        if method != "GET":
            return _text(f"Cannot {method} /1/members/me", 404)
        if query.get("key") != self.api_key:
            return _text("invalid key", 401)
        member = self._member_tokens.get(query.get("token", ""))
        if member is None:
            return _text("invalid token", 401)
        return _json(member)


def _label(board_id: str, label: str | tuple[str, str]) -> dict[str, Any]:
    name, color = (label, "green") if isinstance(label, str) else label
    return {"id": f"label-{name or color}", "idBoard": board_id, "name": name, "color": color}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops concurrent connects (1 s SYN retry)

    def __init__(self, fake: FakeTrello) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' connection pool expects

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""
        try:
            reply = self.server.fake._serve(method, self.path, content_type, raw)
        except Exception as exc:  # a bug in the fake: make it visible to the client
            reply = _text(f"fake bug: {exc!r}", 500)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet
