"""A fake Slack Web API server for tests.

``FakeSlack`` is a real HTTP server on 127.0.0.1 that speaks enough of the Slack
Web API (response shapes and ``ok: false`` error codes as Slack uses them) for the
bot's ``slack_sdk.WebClient`` to run against it unchanged: point ``SLACK_API_URL``
at ``fake.base_url``. Every request is recorded as a :class:`Call`; a small world
(channels, messages, pins, users, views, files) is kept so multi-step flows work.

Typical use::

    with FakeSlack() as fake:
        channel_id = fake.add_channel("general")
        ...  # run the bot with SLACK_API_URL=fake.base_url
        [call] = fake.wait_for_calls("chat.postMessage", 1)
        assert call.args["channel"] == channel_id
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from tests.fakes._serving import ServedInThread

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "AFAKEAPP"
TEAM_ID = "T0001"
TEAM_NAME = "Fake"
TEAM_URL = "https://fake.slack.com/"

Args = dict[str, Any]
"""Merged request arguments (query string, form fields and JSON body)."""

# Form fields whose values slack_sdk (and Slack clients generally) send as JSON strings.
_JSON_FIELDS = frozenset(
    {"blocks", "attachments", "metadata", "view", "files", "user_auth_blocks", "unfurls"}
)
_CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_FIRST_TS = 1_700_000_000_000_100  # microseconds -> "1700000000.000100"
_TS_STEP = 100
_DEFAULT_5XX_ERRORS = {500: "internal_error", 503: "service_unavailable"}


@dataclass(frozen=True)
class Call:
    """One recorded HTTP request to the fake.

    ``method`` is the Web API method (``"chat.postMessage"``), ``"response_url"`` or
    ``"file_upload"``. Header names are lower-cased. ``failed`` is true when the call
    was answered by :meth:`FakeSlack.fail_next` instead of the fake's normal logic.
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    failed: bool = False
    path: str = ""
    body: bytes = field(default=b"", repr=False)


class _SlackError(Exception):
    """Raised by a method implementation to answer ``{"ok": false, "error": code, ...}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: int | None
    error: str | None


class _Reply(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]


def _json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps(payload).encode("utf-8")
    return _Reply(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def _text_reply(text: str, status: int = 200) -> _Reply:
    return _Reply(status, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})


_MethodImpl = Callable[["FakeSlack", Args], dict[str, Any]]
_METHODS: dict[str, _MethodImpl] = {}


def _method(name: str) -> Callable[[_MethodImpl], _MethodImpl]:
    """Register a Web API method implementation under its Slack name."""

    def register(impl: _MethodImpl) -> _MethodImpl:
        _METHODS[name] = impl
        return impl

    return register


# ---------------------------------------------------------------------------
# Argument helpers


def _parse_args(query: str, body: bytes, content_type: str) -> Args:
    """Merge query string, form body and JSON body; decode JSON-valued form fields."""
    args: Args = dict(parse_qsl(query, keep_blank_values=True))
    if body and content_type.startswith("application/json"):
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            args.update(decoded)
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for key in _JSON_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass  # left as sent; Slack would answer invalid_blocks & co.
    return args


def _flag(value: Any) -> bool:
    """Slack booleans arrive as ``true``/``1`` strings from forms or as JSON booleans."""
    return value is True or value == 1 or str(value).lower() in ("true", "1")


def _required(args: Args, key: str) -> Any:
    value = args.get(key)
    if value in (None, ""):
        raise _SlackError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] missing required field: {key}"]},
        )
    return value


def _users_arg(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _paginate(items: list[Any], args: Args, default_limit: int = 100) -> tuple[list[Any], str]:
    """Slice ``items`` by Slack's ``cursor``/``limit``; return the page and ``next_cursor``."""
    try:
        limit = int(args.get("limit") or default_limit)
    except (TypeError, ValueError):
        raise _SlackError("invalid_limit") from None
    limit = min(limit, 1000) if limit > 0 else default_limit
    start = 0
    if cursor := args.get("cursor"):
        try:
            start = int(base64.b64decode(str(cursor), validate=True).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError, binascii.Error):
            raise _SlackError("invalid_cursor") from None
    end = start + limit
    next_cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor


def _ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


# ---------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops concurrent connects (1 s SYN retry)

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.fake = fake


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = self.server.fake._serve(self.path, headers, body)
        except Exception as exc:  # a bug in the fake: make it visible to the client
            reply = _json_reply({"ok": False, "error": "fatal_error", "fake_bug": repr(exc)}, 500)
        self.send_response(reply.status)
        for name, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# ---------------------------------------------------------------------------
# The fake


class FakeSlack(ServedInThread):
    """Fake Slack Web API on a free 127.0.0.1 port; see the module docstring.

    ``known_channels`` are channel ids that ``chat.*`` methods accept without the
    channel being created in the world (they are not listed by ``conversations.*``).
    ``chat_write_public`` mirrors the ``chat:write.public`` scope: when false, posting
    to a public channel the bot is not a member of answers ``not_in_channel``.
    """

    def __init__(self, known_channels: Iterable[str] = (), chat_write_public: bool = True) -> None:
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._failures: dict[str, deque[_Failure]] = {}
        self._known_channels = set(known_channels)
        self._chat_write_public = chat_write_public
        self._channels: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._pins: dict[str, list[dict[str, Any]]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}
        self._used_triggers: set[str] = set()
        self._files: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self._next_ts = _FIRST_TS
        self.add_user(BOT_USER_ID, "makersbot", "Makers Bot", is_bot=True)
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Web API base URL, e.g. ``http://127.0.0.1:PORT/api/`` (``SLACK_API_URL``)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A Slack-style ``response_url``; posts to it are recorded as ``"response_url"``."""
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    # -- recorded calls ----------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls in arrival order, optionally only those of ``method``."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget recorded calls (the world state is kept)."""
        with self._lock:
            self._calls.clear()

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate(self)`` every 10 ms until true (-> True) or ``timeout`` (-> False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def wait_for_calls(self, method: str, count: int, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called ``count`` times; return those calls.

        Raises AssertionError listing the methods actually recorded on timeout.
        """
        if not self.wait_for(lambda fake: len(fake.calls(method)) >= count, timeout):
            seen = [c.method for c in self.calls()]
            raise AssertionError(
                f"expected {count} {method!r} call(s) within {timeout}s, "
                f"got {len(self.calls(method))}; recorded: {seen}"
            )
        return self.calls(method)

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (they are still recorded).

        429 answers carry ``Retry-After: retry_after``; other statuses answer a JSON
        ``{"ok": false, "error": ...}`` body. With ``status=200`` an ``error`` code is
        required and the answer is a normal Slack API error.
        """
        if status == 200 and error is None:
            raise ValueError("fail_next(status=200) needs an error code")
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure(status, retry_after, error) for _ in range(times))

    # -- world state helpers for tests --------------------------------------

    def add_channel(
        self,
        name: str,
        is_member: bool = True,
        is_archived: bool = False,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
    ) -> str:
        """Create a channel directly in the world and return its id."""
        with self._lock:
            channel = self._new_channel(name, is_private=is_private, creator="U0CREATOR")
            channel["is_archived"] = is_archived
            channel["members"] = [BOT_USER_ID] if is_member else []
            channel["members"] += [m for m in members if m not in channel["members"]]
            return str(channel["id"])

    def channel(self, channel_id: str) -> dict[str, Any]:
        """A copy of the channel (Slack's shape plus ``members`` and ``pins`` ts list)."""
        with self._lock:
            record = self._channels[channel_id]
            return {
                **self._channel_obj(record, num_members=True),
                "members": list(record["members"]),
                "pins": [pin["ts"] for pin in self._pins.get(channel_id, [])],
            }

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        """Like :meth:`channel`, looked up by name (``#`` optional); None if absent."""
        with self._lock:
            found = self._find_by_name(name.lstrip("#"))
            return None if found is None else self.channel(found)

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Copies of the messages in a channel (incl. thread replies), oldest first."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel_id, []))

    def add_message(self, channel_id: str, text: str, user: str = "U0HUMAN", **fields: Any) -> str:
        """Store a message (e.g. from a human) in a channel; return its ts."""
        with self._lock:
            message = self._store_message(channel_id, {"text": text, **fields})
            message["user"] = user
            message.pop("bot_id", None)
            message.pop("app_id", None)
            return str(message["ts"])

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        *,
        email: str | None = None,
        is_bot: bool = False,
        is_admin: bool = False,
        tz: str = "Europe/Berlin",
    ) -> dict[str, Any]:
        """Add (or replace) a workspace user for ``users.info``; return a copy."""
        real = real_name if real_name is not None else name
        profile: dict[str, Any] = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": name,
            "display_name_normalized": name,
            "team": TEAM_ID,
        }
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real,
            "tz": tz,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": profile,
        }
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def view(self, view_id: str) -> dict[str, Any]:
        """A copy of a view opened, updated or published through the API."""
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """A copy of the App Home view last published for ``user_id``."""
        with self._lock:
            view_id = self._home_views.get(user_id)
            return None if view_id is None else self.view(view_id)

    def file_content(self, file_id: str) -> bytes | None:
        """Bytes uploaded to a file's upload URL (None before the upload)."""
        with self._lock:
            content = self._files[file_id]["content"]
            return None if content is None else bytes(content)

    # -- request handling --------------------------------------------------

    def _serve(self, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Record one request and answer it (called from the server threads)."""
        url = urlsplit(raw_path)
        kind, _, name = url.path.lstrip("/").partition("/")
        method = {"api": name, "respond": "response_url", "upload": "file_upload"}.get(kind)
        if method is None or not name:
            return _text_reply("not found", 404)
        parse_error = None
        try:
            if kind == "upload":
                args: Args = {"length": len(body)}
            else:
                args = _parse_args(url.query, body, headers.get("content-type", ""))
        except ValueError:  # undecodable body: Slack's API answers invalid_json
            args, parse_error = {}, ("invalid_json" if kind == "api" else None)
        return self._record_and_reply(method, args, headers, body, url.path, parse_error)

    def _record_and_reply(
        self,
        method: str,
        args: Args,
        headers: dict[str, str],
        body: bytes,
        path: str,
        parse_error: str | None,
    ) -> _Reply:
        with self._lock:
            queue = self._failures.get(method)
            failure = queue.popleft() if queue else None
            self._calls.append(
                Call(method, args, headers, time.time(), failure is not None, path, body)
            )
            if failure is not None:
                return self._failure_reply(failure)
            if parse_error is not None:
                return _json_reply({"ok": False, "error": parse_error})
            if method == "response_url":
                return self._respond(args)
            if method == "file_upload":
                return self._upload(path.rsplit("/", 1)[-1], body)
            return self._call_api(method, args, headers)

    @staticmethod
    def _failure_reply(failure: _Failure) -> _Reply:
        if failure.status == 429:
            retry = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            return _json_reply({"ok": False, "error": failure.error or "ratelimited"}, 429, retry)
        error = failure.error or _DEFAULT_5XX_ERRORS.get(failure.status, "fatal_error")
        return _json_reply({"ok": False, "error": error}, failure.status)

    def _call_api(self, method: str, args: Args, headers: dict[str, str]) -> _Reply:
        impl = _METHODS.get(method)
        if impl is None:
            return _json_reply({"ok": False, "error": "unknown_method"})
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not (token or args.get("token")):
            return _json_reply({"ok": False, "error": "not_authed"})
        try:
            return _json_reply({"ok": True, **impl(self, args)})
        except _SlackError as exc:
            return _json_reply({"ok": False, "error": exc.code, **exc.extra})

    @staticmethod
    def _respond(args: Args) -> _Reply:
        """Slack's response_url: JSON body with text/blocks/response_type/replace_original."""
        if not args:
            return _text_reply("invalid_payload", 400)
        if not (args.get("text") or args.get("blocks") or args.get("attachments")) and not _flag(
            args.get("delete_original")
        ):
            return _text_reply("no_text", 400)
        return _json_reply({"ok": True})

    def _upload(self, file_id: str, body: bytes) -> _Reply:
        """The upload URL handed out by files.getUploadURLExternal."""
        record = self._files.get(file_id)
        if record is None:
            return _text_reply("not found", 404)
        record["content"] = body
        return _text_reply(f"OK - {len(body)}")

    # -- world internals (call with the lock held) --------------------------

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:08d}"

    def _new_ts(self) -> str:
        ts = _ts(self._next_ts)
        self._next_ts += _TS_STEP
        return ts

    def _new_channel(self, name: str, *, is_private: bool, creator: str) -> dict[str, Any]:
        now = int(time.time())
        channel: dict[str, Any] = {
            "id": self._new_id("C"),
            "name": name,
            "created": now,
            "creator": creator,
            "is_private": is_private,
            "is_archived": False,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "members": [],
        }
        self._channels[channel["id"]] = channel
        self._messages[channel["id"]] = []
        return channel

    @staticmethod
    def _channel_obj(record: dict[str, Any], num_members: bool = False) -> dict[str, Any]:
        """The channel as Slack's conversation object."""
        obj = {
            "id": record["id"],
            "name": record["name"],
            "name_normalized": record["name"],
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": record["is_private"],
            "created": record["created"],
            "creator": record["creator"],
            "is_archived": record["is_archived"],
            "is_general": False,
            "unlinked": 0,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "is_member": BOT_USER_ID in record["members"],
            "topic": dict(record["topic"]),
            "purpose": dict(record["purpose"]),
            "previous_names": [],
        }
        if num_members:
            obj["num_members"] = len(record["members"])
        return obj

    def _find_by_name(self, name: str) -> str | None:
        return next((cid for cid, ch in self._channels.items() if ch["name"] == name), None)

    def _visible_channel(self, channel_id: Any) -> dict[str, Any]:
        """A channel the bot can see (private ones only as a member), else channel_not_found."""
        record = self._channels.get(str(channel_id or ""))
        if record is None or (record["is_private"] and BOT_USER_ID not in record["members"]):
            raise _SlackError("channel_not_found")
        return record

    def _message_channel(self, value: Any) -> str:
        """Resolve ``channel`` for chat.*: id, known id, ``#name``/name, or a user id (DM)."""
        target = str(value or "")
        if target in self._known_channels or (target.startswith("D") and target in self._messages):
            self._messages.setdefault(target, [])
            return target
        if target in self._users:
            dm = "D" + target[1:]
            self._messages.setdefault(dm, [])
            return dm
        channel_id = target if target in self._channels else self._find_by_name(target.lstrip("#"))
        record = self._visible_channel(channel_id)
        return str(record["id"])

    def _writable_channel(self, value: Any) -> str:
        channel_id = self._message_channel(value)
        record = self._channels.get(channel_id)
        if record is not None:
            if record["is_archived"]:
                raise _SlackError("is_archived")
            if not self._chat_write_public and BOT_USER_ID not in record["members"]:
                raise _SlackError("not_in_channel")
        return channel_id

    def _find_message(self, channel_id: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel_id, []):
            if message["ts"] == str(ts):
                return message
        raise _SlackError("message_not_found")

    def _store_message(self, channel_id: str, args: Args) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": args.get("text") or "",
            "ts": self._new_ts(),
        }
        for key in ("blocks", "attachments", "metadata", "files"):
            if args.get(key) is not None:
                message[key] = args[key]
        if thread_ts := args.get("thread_ts"):
            message["thread_ts"] = str(thread_ts)
            parent = next(
                (m for m in self._messages.get(channel_id, []) if m["ts"] == str(thread_ts)), None
            )
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
        self._messages.setdefault(channel_id, []).append(message)
        return message

    def _permalink(self, channel_id: str, message: dict[str, Any]) -> str:
        link = f"{TEAM_URL}archives/{channel_id}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel_id}"
        return link

    def _build_view(self, view: Any, view_id: str, root_id: str | None = None) -> dict[str, Any]:
        if not isinstance(view, dict) or "type" not in view:
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] failed to match all allowed schemas"]},
            )
        built = {
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "app_installed_team_id": TEAM_ID,
            "callback_id": "",
            "external_id": "",
            "private_metadata": "",
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "blocks": [],
            **copy.deepcopy(view),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._new_id('h')}",
            "root_view_id": root_id or view_id,
            "previous_view_id": None,
        }
        self._views[view_id] = built
        return built

    # -- Web API methods ----------------------------------------------------

    @_method("api.test")
    def _api_test(self, args: Args) -> dict[str, Any]:
        return {"args": {k: v for k, v in args.items() if k != "token"}}

    @_method("auth.test")
    def _auth_test(self, args: Args) -> dict[str, Any]:
        return {
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": self._users[BOT_USER_ID]["name"],
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    @_method("chat.postMessage")
    def _chat_post_message(self, args: Args) -> dict[str, Any]:
        channel_id = self._writable_channel(args.get("channel"))
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise _SlackError("no_text")
        message = self._store_message(channel_id, args)
        return {"channel": channel_id, "ts": message["ts"], "message": copy.deepcopy(message)}

    @_method("chat.update")
    def _chat_update(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        message = self._find_message(channel_id, args.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise _SlackError("cant_update_message")
        for key in ("text", "blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = args[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._new_ts()}
        return {
            "channel": channel_id,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    @_method("chat.postEphemeral")
    def _chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        self._writable_channel(args.get("channel"))
        if not _USER_ID.fullmatch(str(args.get("user") or "")):
            raise _SlackError("user_not_in_channel")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise _SlackError("no_text")
        return {"message_ts": self._new_ts()}

    @_method("chat.delete")
    def _chat_delete(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        message = self._find_message(channel_id, args.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise _SlackError("cant_delete_message")
        self._messages[channel_id].remove(message)
        return {"channel": channel_id, "ts": message["ts"]}

    @_method("chat.getPermalink")
    def _chat_get_permalink(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        message = self._find_message(channel_id, args.get("message_ts"))
        return {"channel": channel_id, "permalink": self._permalink(channel_id, message)}

    @_method("conversations.create")
    def _conversations_create(self, args: Args) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise _SlackError("invalid_name_required")
        if len(name) > 80:
            raise _SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME.fullmatch(name):
            raise _SlackError("invalid_name_specials")
        if not name.strip("-_"):
            raise _SlackError("invalid_name_punctuation")
        if self._find_by_name(name) is not None:
            raise _SlackError("name_taken")
        channel = self._new_channel(
            name, is_private=_flag(args.get("is_private")), creator=BOT_USER_ID
        )
        channel["members"] = [BOT_USER_ID]
        return {"channel": {**self._channel_obj(channel), "last_read": "0000000000.000000"}}

    @_method("conversations.list")
    def _conversations_list(self, args: Args) -> dict[str, Any]:
        types = set(_users_arg(args.get("types") or "public_channel"))
        exclude_archived = _flag(args.get("exclude_archived"))
        matching = [
            self._channel_obj(ch, num_members=True)
            for ch in self._channels.values()
            if not (exclude_archived and ch["is_archived"])
            and (
                ("public_channel" in types and not ch["is_private"])
                or (
                    "private_channel" in types and ch["is_private"] and BOT_USER_ID in ch["members"]
                )
            )
        ]
        page, next_cursor = _paginate(matching, args)
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    @_method("conversations.info")
    def _conversations_info(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        return {"channel": self._channel_obj(record, _flag(args.get("include_num_members")))}

    @_method("conversations.join")
    def _conversations_join(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if record["is_private"]:
            raise _SlackError("method_not_supported_for_channel_type")
        if record["is_archived"]:
            raise _SlackError("is_archived")
        if BOT_USER_ID in record["members"]:
            return {
                "channel": self._channel_obj(record),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        record["members"].append(BOT_USER_ID)
        return {"channel": self._channel_obj(record)}

    @_method("conversations.invite")
    def _conversations_invite(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        users = _users_arg(args.get("users"))
        if not users:
            raise _SlackError("no_user")
        if len(users) > 1000:
            raise _SlackError("too_many_users")
        if record["is_archived"]:
            raise _SlackError("is_archived")
        if BOT_USER_ID not in record["members"]:
            raise _SlackError("not_in_channel")
        if BOT_USER_ID in users:
            raise _SlackError("cant_invite_self")
        if unknown := [u for u in users if not _USER_ID.fullmatch(u)]:
            raise _SlackError(
                "user_not_found",
                errors=[{"user": u, "ok": False, "error": "user_not_found"} for u in unknown],
            )
        new = [u for u in dict.fromkeys(users) if u not in record["members"]]
        if not new:
            raise _SlackError(
                "already_in_channel",
                errors=[{"user": u, "ok": False, "error": "already_in_channel"} for u in users],
            )
        record["members"].extend(new)
        return {"channel": self._channel_obj(record)}

    @_method("conversations.history")
    def _conversations_history(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if BOT_USER_ID not in record["members"]:
            raise _SlackError("not_in_channel")
        top_level = [
            copy.deepcopy(m)
            for m in reversed(self._messages[record["id"]])
            if m.get("thread_ts") in (None, m["ts"])
        ]
        page, next_cursor = _paginate(top_level, args)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "pin_count": len(self._pins.get(record["id"], [])),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_method("conversations.replies")
    def _conversations_replies(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if BOT_USER_ID not in record["members"]:
            raise _SlackError("not_in_channel")
        parent = str(args.get("ts") or "")
        thread = [
            copy.deepcopy(m)
            for m in self._messages[record["id"]]
            if m["ts"] == parent or m.get("thread_ts") == parent
        ]
        if not thread:
            raise _SlackError("thread_not_found")
        page, next_cursor = _paginate(thread, args)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_method("conversations.setTopic")
    def _conversations_set_topic(self, args: Args) -> dict[str, Any]:
        return self._set_channel_text(args, "topic", 250)

    @_method("conversations.setPurpose")
    def _conversations_set_purpose(self, args: Args) -> dict[str, Any]:
        return self._set_channel_text(args, "purpose", 250)

    def _set_channel_text(self, args: Args, key: str, max_length: int) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        value = str(args.get(key) or "")
        if record["is_archived"]:
            raise _SlackError("is_archived")
        if BOT_USER_ID not in record["members"]:
            raise _SlackError("not_in_channel")
        if len(value) > max_length:
            raise _SlackError("too_long")
        record[key] = {"value": value, "creator": BOT_USER_ID, "last_set": int(time.time())}
        return {"channel": self._channel_obj(record)}

    @_method("conversations.archive")
    def _conversations_archive(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if record["is_archived"]:
            raise _SlackError("already_archived")
        if BOT_USER_ID not in record["members"]:
            raise _SlackError("not_in_channel")
        record["is_archived"] = True
        return {}

    @_method("conversations.members")
    def _conversations_members(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        page, next_cursor = _paginate(list(record["members"]), args)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    @_method("pins.add")
    def _pins_add(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        if not args.get("timestamp"):
            raise _SlackError("no_item_specified")
        message = self._find_message(channel_id, args["timestamp"])
        pins = self._pins.setdefault(channel_id, [])
        if any(pin["ts"] == message["ts"] for pin in pins):
            raise _SlackError("already_pinned")
        pins.append({"ts": message["ts"], "created": int(time.time()), "created_by": BOT_USER_ID})
        message["pinned_to"] = [*message.get("pinned_to", []), channel_id]
        return {}

    @_method("pins.list")
    def _pins_list(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        items = []
        for pin in reversed(self._pins.get(channel_id, [])):
            message = copy.deepcopy(self._find_message(channel_id, pin["ts"]))
            message["permalink"] = self._permalink(channel_id, message)
            items.append(
                {
                    "type": "message",
                    "channel": channel_id,
                    "created": pin["created"],
                    "created_by": pin["created_by"],
                    "message": message,
                }
            )
        return {"items": items}

    @_method("views.open")
    def _views_open(self, args: Args) -> dict[str, Any]:
        trigger_id = str(_required(args, "trigger_id"))
        if trigger_id in self._used_triggers:
            raise _SlackError("exchanged_trigger_id")
        view = self._build_view(_required(args, "view"), self._new_id("V"))
        self._used_triggers.add(trigger_id)
        return {"view": copy.deepcopy(view)}

    @_method("views.update")
    def _views_update(self, args: Args) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (v["id"] for v in self._views.values() if v["external_id"] == args["external_id"]),
                None,
            )
        current = self._views.get(str(view_id or ""))
        if current is None:
            raise _SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        view = self._build_view(_required(args, "view"), current["id"], current["root_view_id"])
        return {"view": copy.deepcopy(view)}

    @_method("views.publish")
    def _views_publish(self, args: Args) -> dict[str, Any]:
        user_id = str(_required(args, "user_id"))
        if not _USER_ID.fullmatch(user_id):
            raise _SlackError("user_not_found")
        view_arg = _required(args, "view")
        if isinstance(view_arg, dict) and view_arg.get("type") != "home":
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] view type must be home"]},
            )
        current_id = self._home_views.get(user_id)
        if current_id and args.get("hash") and args["hash"] != self._views[current_id]["hash"]:
            raise _SlackError("hash_conflict")
        view = self._build_view(view_arg, current_id or self._new_id("V"))
        self._home_views[user_id] = view["id"]
        return {"view": copy.deepcopy(view)}

    @_method("users.info")
    def _users_info(self, args: Args) -> dict[str, Any]:
        user = self._users.get(str(args.get("user") or ""))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    @_method("users.lookupByEmail")
    def _users_lookup_by_email(self, args: Args) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email and email:
                return {"user": copy.deepcopy(user)}
        raise _SlackError("users_not_found")

    @_method("files.getUploadURLExternal")
    def _files_get_upload_url(self, args: Args) -> dict[str, Any]:
        filename = str(_required(args, "filename"))
        try:
            length = int(_required(args, "length"))
        except ValueError:
            raise _SlackError("invalid_arguments") from None
        file_id = self._new_id("F")
        self._files[file_id] = {"id": file_id, "name": filename, "length": length, "content": None}
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    @_method("files.completeUploadExternal")
    def _files_complete_upload(self, args: Args) -> dict[str, Any]:
        entries = _required(args, "files")
        if not isinstance(entries, list) or not entries:
            raise _SlackError("invalid_arguments")
        files = []
        for entry in entries:
            record = self._files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if record is None or record["content"] is None:
                raise _SlackError("file_not_found")
            record["title"] = entry.get("title") or record["name"]
            files.append(
                {
                    "id": record["id"],
                    "name": record["name"],
                    "title": record["title"],
                    "size": len(record["content"]),
                }
            )
        if channel := args.get("channel_id"):
            channel_id = self._writable_channel(channel)
            self._store_message(
                channel_id,
                {
                    "text": args.get("initial_comment") or "",
                    "files": copy.deepcopy(files),
                    "thread_ts": args.get("thread_ts"),
                },
            )
        return {"files": files}


def fake_slack() -> Iterator[FakeSlack]:
    """Body of a pytest fixture: ``fake_slack = pytest.fixture(fake_slack)`` in conftest."""
    with FakeSlack() as fake:
        yield fake
