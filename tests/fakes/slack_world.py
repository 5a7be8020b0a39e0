"""The fake Slack's world: channels, messages, pins, users, views and files.

`SlackWorld` holds the state and the rules the Web API methods share (which channel a
`channel` argument means, who may write where); `tests/fakes/slack_methods.py` implements
the methods on it and `tests/fakes/slack.py` serves them over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "AFAKEAPP"
TEAM_ID = "T0001"
TEAM_NAME = "Fake"
TEAM_URL = "https://fake.slack.com/"

Args = dict[str, Any]
"""Merged request arguments (query string, form fields and JSON body)."""

CHANNEL_NAME_RE = re.compile(r"[a-z0-9_-]+")
USER_ID_RE = re.compile(r"[UW][A-Z0-9]+")
FIRST_TS = 1_700_000_000_000_100  # microseconds -> "1700000000.000100"
TS_STEP = 100


class SlackError(Exception):
    """Raised by a method implementation to answer ``{"ok": false, "error": code, ...}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def flag(value: Any) -> bool:
    """Slack booleans arrive as ``true``/``1`` strings from forms or as JSON booleans."""
    return value is True or value == 1 or str(value).lower() in ("true", "1")


def required(args: Args, key: str) -> Any:
    value = args.get(key)
    if value in (None, ""):
        raise SlackError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] missing required field: {key}"]},
        )
    return value


def users_arg(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def paginate(items: list[Any], args: Args, default_limit: int = 100) -> tuple[list[Any], str]:
    """Slice ``items`` by Slack's ``cursor``/``limit``; return the page and ``next_cursor``."""
    try:
        limit = int(args.get("limit") or default_limit)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None
    limit = min(limit, 1000) if limit > 0 else default_limit
    start = 0
    if cursor := args.get("cursor"):
        try:
            start = int(base64.b64decode(str(cursor), validate=True).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError, binascii.Error):
            raise SlackError("invalid_cursor") from None
    end = start + limit
    next_cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor


def ts_text(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class SlackWorld:
    """The state of one fake workspace; every access holds `_lock`."""

    def __init__(self, known_channels: Iterable[str] = (), chat_write_public: bool = True) -> None:
        self._lock = threading.RLock()
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
        self._next_ts = FIRST_TS
        self.add_user(BOT_USER_ID, "makersbot", "Makers Bot", is_bot=True)

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
        email_confirmed: bool = True,
        team_id: str = TEAM_ID,
    ) -> dict[str, Any]:
        """Add (or replace) a workspace user for ``users.info``; return a copy.

        ``email`` is ``profile.email`` (Slack sends it with the ``users:read.email`` scope);
        ``email_confirmed`` is ``is_email_confirmed``; another ``team_id`` makes the user
        an external member (Slack Connect)."""
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
            "team_id": team_id,
            "is_email_confirmed": email_confirmed,
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

    # -- world internals (call with the lock held) --------------------------

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:08d}"

    def _new_ts(self) -> str:
        ts = ts_text(self._next_ts)
        self._next_ts += TS_STEP
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
            raise SlackError("channel_not_found")
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
                raise SlackError("is_archived")
            if not self._chat_write_public and BOT_USER_ID not in record["members"]:
                raise SlackError("not_in_channel")
        return channel_id

    def _find_message(self, channel_id: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel_id, []):
            if message["ts"] == str(ts):
                return message
        raise SlackError("message_not_found")

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
            raise SlackError(
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
