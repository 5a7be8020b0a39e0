"""An in-process Slack for the offline console: the Web API methods the bot calls, answered
here and printed as readable text instead of sent over the network."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from makersbot.console.text import blocks_as_text, indent

Printer = Callable[[str], None]
BOT_USER = "UBOT"
TEAM = "TCONSOLE"  # the one workspace of the console: the bot's and everyone's


class ConsoleSlack(WebClient):
    """The Slack Web API as the bot sees it, played by this process.

    Channels, members and the first line of every message are kept, so thread replies can
    say which message they answer. Forms the bot opens wait in `opened_views` for the
    console to fill in; a chart upload is saved as a PNG in `charts_dir`. Everyone is a
    member of the bot's own workspace, and `emails` holds the addresses Slack has confirmed
    for them (`users.info`), which is what verifies a council.
    """

    def __init__(self, out: Printer, *, charts_dir: Path) -> None:
        super().__init__(token="xoxb-console", base_url="http://console.invalid/api/")
        self.out = out
        self.charts_dir = charts_dir
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, str] = {BOT_USER: "makersbot"}
        self.emails: dict[str, str] = {}  # Slack id → confirmed e-mail address
        self.opened_views: list[dict[str, Any]] = []
        self.saved_charts: list[Path] = []
        self._headlines: dict[str, str] = {}  # ts → first line, for "in the thread of …"
        # Time-based, so that a console restarted on the same database never reuses a ts.
        self._ts = itertools.count(int(time.time()) * 1_000_000)

    # Names -------------------------------------------------------------------------------

    def channel_id(self, name: str) -> str:
        """Stable ids, so that a console restarted on the same database finds its channels."""
        return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()

    def add_channel(self, channel_id: str, name: str) -> None:
        self.channels.setdefault(channel_id, {"name": name, "members": set()})

    def channel_named(self, name: str) -> str | None:
        name = name.lstrip("#").lower()
        return next((i for i, c in self.channels.items() if c["name"] == name), None)

    def name_of(self, any_id: str) -> str:
        if any_id in self.channels:
            return str(self.channels[any_id]["name"])
        return self.users.get(any_id, any_id)

    def _where(self, channel_id: str) -> str:
        if channel_id in self.channels:
            return "#" + self.name_of(channel_id)
        return f"a DM to @{self.name_of(channel_id)}" if channel_id in self.users else "a DM"

    def _text(self, args: dict[str, Any]) -> str:
        return blocks_as_text(
            args.get("blocks"), str(args.get("text", "")), self.name_of, urls=False
        )

    # The Web API -------------------------------------------------------------------------

    def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: Any = None,
        data: Any = None,
        params: Any = None,
        json: Any = None,
        headers: Any = None,
        auth: Any = None,
    ) -> SlackResponse:
        args: dict[str, Any] = {**(params or {}), **(data or {}), **(json or {})}
        handler = getattr(self, "_" + api_method.replace(".", "_"), None)
        body = handler(args) if handler else {"ok": True}
        response = SlackResponse(
            client=self,
            http_verb=http_verb,
            api_url=api_method,
            req_args=args,
            data=body,
            headers={},
            status_code=200,
        )
        response.validate()  # type: ignore[no-untyped-call]
        return response

    def _auth_test(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": TEAM}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user") or "")
        if user_id not in self.users:
            return {"ok": False, "error": "user_not_found"}
        name = self.users[user_id]
        profile = {"real_name": name, "display_name": name}
        if user_id in self.emails:
            profile["email"] = self.emails[user_id]
        user = {
            "id": user_id,
            "team_id": TEAM,
            "name": name,
            "is_bot": user_id == BOT_USER,
            "is_email_confirmed": user_id in self.emails,
            "profile": profile,
        }
        return {"ok": True, "user": user}

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args["name"])
        channel_id = self.channel_id(name)
        if channel_id in self.channels:
            return {"ok": False, "error": "name_taken"}
        self.add_channel(channel_id, name)
        self.out(f"[slack] created channel #{name}")
        return {"ok": True, "channel": {"id": channel_id, "name": name}}

    def _conversations_list(self, _args: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": i, "name": c["name"]} for i, c in self.channels.items()]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": args["channel"]}}

    def _conversations_history(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "messages": [], "has_more": False}

    _conversations_replies = _conversations_history

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args["message_ts"]).replace(".", "")
        return {
            "ok": True,
            "permalink": f"https://console.invalid/archives/{args['channel']}/p{ts}",
        }

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args["channel"]))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = set(str(args["users"]).split(","))
        if users <= channel["members"]:
            return {"ok": False, "error": "already_in_channel"}
        channel["members"] |= users
        names = ", ".join("@" + self.name_of(u) for u in sorted(users))
        self.out(f"[slack] {names} added to #{channel['name']}")
        return {"ok": True}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(args["channel"])
        n = next(self._ts)
        ts = f"{n // 1_000_000}.{n % 1_000_000:06d}"
        text = self._text(args)
        where = self._where(channel_id)
        parent = self._headlines.get(str(args.get("thread_ts") or ""))
        if args.get("thread_ts"):
            where += f", in the thread of “{parent}”" if parent else ", in a thread"
        self._headlines[ts] = _headline(text)
        self.out(f"[posted in {where}]\n{indent(text)}")
        return {"ok": True, "channel": channel_id, "ts": ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id, ts = str(args["channel"]), str(args["ts"])
        text = self._text(args)
        self._headlines[ts] = _headline(text)
        self.out(f"[updated in {self._where(channel_id)}]\n{indent(text)}")
        return {"ok": True, "channel": channel_id, "ts": ts}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self.out(f"[only you see]\n{indent(self._text(args))}")
        return {"ok": True, "message_ts": "0"}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        self.out(f"[slack] pinned in #{self.name_of(str(args['channel']))}")
        return {"ok": True}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"]
        view = dict(view) if isinstance(view, dict) else view.to_dict()
        view.setdefault("id", f"V{len(self.opened_views) + 1:08d}")
        self.opened_views.append(view)
        return {"ok": True, "view": view}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"]
        view = view if isinstance(view, dict) else view.to_dict()
        who = self.name_of(str(args["user_id"]))
        shown = blocks_as_text(view["blocks"], "", self.name_of, urls=False)
        self.out(f"[the Home tab of @{who}]\n{indent(shown)}")
        return {"ok": True, "view": view}

    def files_upload_v2(
        self,
        *,
        filename: str | None = None,
        content: str | bytes | None = None,
        title: str | None = None,
        alt_txt: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
        **_: Any,
    ) -> SlackResponse:
        """Saved as a file here: Slack's three-step upload has nowhere to go offline."""
        self.charts_dir.mkdir(parents=True, exist_ok=True)
        path = self.charts_dir / (filename or "upload.png")
        path.write_bytes(content.encode() if isinstance(content, str) else (content or b""))
        self.saved_charts.append(path)
        where = self._where(channel or "")
        parent = self._headlines.get(thread_ts or "")
        if parent:
            where += f", in the thread of “{parent}”"
        lines = [f"[file posted in {where}] {title or path.name}", f"saved as {path}"]
        if alt_txt:
            lines.append(f"described as: {alt_txt}")
        self.out(lines[0] + "\n" + indent("\n".join(lines[1:])))
        return SlackResponse(
            client=self,
            http_verb="POST",
            api_url="files.completeUploadExternal",
            req_args={},
            data={"ok": True, "files": [{"id": "F" + path.stem[-8:].upper(), "title": title}]},
            headers={},
            status_code=200,
        )


def _headline(text: str, limit: int = 60) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = first.strip("= ")
    return first if len(first) <= limit else first[: limit - 1] + "…"
