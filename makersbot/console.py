"""The offline console: the real handlers and services against an in-process Slack.

People type `/makers …` lines; the bot's acknowledgements, replies, channel posts and
card updates are printed as readable text. It uses the configured database.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from makersbot.app import Bot, build
from makersbot.domain.projects import JOIN_ACTION
from makersbot.domain.requests import Actor
from makersbot.loops import OutboxLoop
from makersbot.settings import Settings
from makersbot.store import projects as project_store

INTRO = """\
makersbot offline console — the real bot, with Slack played by this terminal.
Type /makers help to see what the bot does. Console commands:
  :as <user id> [name]   be someone else (e.g. :as U002 priya)
  :in <#channel|->       type your commands in a channel (- for none)
  :click join <project>  press the Join button on a project card
  :quit                  leave (or Ctrl-D)"""

Printer = Callable[[str], None]


def readable(text: str, names: Callable[[str], str]) -> str:
    """Slack mrkdwn as a terminal shows it: mentions by name, links as text, no entities."""
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>", lambda m: "#" + names(m[1]), text)
    text = re.sub(r"<@([UW][A-Z0-9]+)>", lambda m: "@" + names(m[1]), text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return html.unescape(text)


def blocks_as_text(
    blocks: list[dict[str, Any]] | None, fallback: str, names: Callable[[str], str]
) -> str:
    """Block Kit rendered for a terminal: headers, sections, context lines and buttons."""
    if not blocks:
        return readable(fallback, names)
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {block['text']['text']} ==")
        elif kind == "section" and block.get("text"):
            lines.append(readable(block["text"]["text"], names))
        elif kind == "context":
            lines.append(
                "  "
                + " ".join(readable(e.get("text", ""), names) for e in block.get("elements", []))
            )
        elif kind == "actions":
            lines.append(
                "  " + "  ".join(f"[ {e['text']['text']} ]" for e in block.get("elements", []))
            )
        elif kind == "divider":
            lines.append("-" * 40)
    return "\n".join(lines)


class ConsoleSlack(WebClient):
    """An in-process stand-in for the Slack Web API that prints what the bot does."""

    def __init__(self, out: Printer) -> None:
        super().__init__(token="xoxb-console", base_url="http://console.invalid/api/")
        self.out = out
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, str] = {"UBOT": "makersbot"}
        self._ts = itertools.count(1)

    def channel_id(self, name: str) -> str:
        # Stable ids, so that a console restarted on the same database finds its channels.
        return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()

    def add_channel(self, channel_id: str, name: str) -> None:
        self.channels.setdefault(channel_id, {"name": name, "members": set(), "messages": {}})

    def name_of(self, any_id: str) -> str:
        if any_id in self.channels:
            return str(self.channels[any_id]["name"])
        return self.users.get(any_id, any_id)

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
        return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "TCONSOLE"}

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
        ts = f"{next(self._ts)}.000000"
        where = "#" + self.name_of(channel_id) if channel_id in self.channels else "DM"
        thread = " (in thread)" if args.get("thread_ts") else ""
        text = blocks_as_text(args.get("blocks"), str(args.get("text", "")), self.name_of)
        self.out(f"[posted in {where}{thread}]\n{_indent(text)}")
        return {"ok": True, "channel": channel_id, "ts": ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(args["channel"])
        text = blocks_as_text(args.get("blocks"), str(args.get("text", "")), self.name_of)
        self.out(f"[updated in #{self.name_of(channel_id)}]\n{_indent(text)}")
        return {"ok": True, "channel": channel_id, "ts": args["ts"]}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        text = blocks_as_text(args.get("blocks"), str(args.get("text", "")), self.name_of)
        self.out(f"[only you see]\n{_indent(text)}")
        return {"ok": True, "message_ts": "0"}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        self.out(f"[slack] pinned in #{self.name_of(str(args['channel']))}")
        return {"ok": True}

    def _views_open(self, _args: dict[str, Any]) -> dict[str, Any]:
        self.out("[a form opens in Slack; here, type /makers start <name> — <description>]")
        return {"ok": True}


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


class Console:
    """The REPL: each line is a `/makers` command, a console command, or empty."""

    def __init__(
        self,
        settings: Settings,
        *,
        user_id: str = "U0CONSOLE",
        user_name: str = "you",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        bot: Bot | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.slack = ConsoleSlack(self.print)
        self.bot = bot or build(settings, client=self.slack, per_channel_interval=0)
        # The sender's round runs after each line, so what the bot posts prints before the
        # next prompt; the console starts no background loops.
        self.outbox = OutboxLoop(self.bot.sender, self.bot.outbox_published)
        if self.bot.db.is_sqlite:
            self.bot.db.upgrade()
        self.user_id = user_id
        self.user_name = user_name
        self.channel_id = ""
        self._triggers = itertools.count(1)
        self.slack.users[user_id] = user_name
        with self.bot.db.session(read_only=True) as session:
            for project in project_store.search_projects(session, words=[], limit=10_000)[0]:
                if project.channel_id and project.channel_name:
                    self.slack.add_channel(project.channel_id, project.channel_name)

    def print(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def loop(self) -> int:
        self.print(INTRO)
        name = self._ask("\nWho are you? Your name (Enter for 'you'): ")
        if name:
            # Each name is its own Slack user, so two people can share one database.
            self.user_name = name.split()[0].lower()
            self.user_id = "U0" + re.sub(r"[^A-Z0-9]", "", self.user_name.upper())[:9]
            self.slack.users[self.user_id] = self.user_name
        if self.bot.people.identity(Actor(self.user_id)).council is None:
            council = self._ask("Which council are you with? (Enter to skip): ")
            if council:
                self.handle(f"/makers iam council {council}")
        while True:
            where = f" in #{self.slack.name_of(self.channel_id)}" if self.channel_id else ""
            self.stdout.write(f"\n{self.user_name}{where}> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                self.print("")
                return 0
            if line.strip() in (":quit", ":q", "exit", "quit"):
                return 0
            self.handle(line.strip())

    def _ask(self, prompt: str) -> str:
        self.stdout.write(prompt)
        self.stdout.flush()
        return self.stdin.readline().strip()

    def handle(self, line: str) -> None:
        """Run one line as a person typing it in Slack."""
        if not line:
            return
        if line.startswith(":"):
            self._console_command(line[1:].split())
        elif line.split()[0] == "/makers":
            self._slash(line.partition(" ")[2])
        else:
            self.print("Type a /makers command, or :quit. /makers help lists them.")
        self.outbox.run_once()

    def _slash(self, text: str) -> None:
        body = {
            "command": "/makers",
            "text": text,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "channel_id": self.channel_id or "DCONSOLE",
            "trigger_id": f"console.{next(self._triggers)}.{id(self)}",
        }

        def ack(text: str = "", blocks: Any = None, **_: Any) -> None:
            if text or blocks:
                self.print(
                    "[only you see]\n" + _indent(blocks_as_text(blocks, text, self.slack.name_of))
                )

        self.bot.commands.dispatch(ack=ack, body=body, respond=ack, client=self.slack)

    def _console_command(self, words: list[str]) -> None:
        if words[:1] == ["as"] and len(words) >= 2:
            self.user_id = words[1].upper()
            self.user_name = words[2] if len(words) > 2 else self.user_id.lower()
            self.slack.users[self.user_id] = self.user_name
            self.print(f"You are now @{self.user_name} ({self.user_id}).")
        elif words[:1] == ["in"] and len(words) == 2:
            name = words[1].lstrip("#")
            if name == "-":
                self.channel_id = ""
                return
            match = [i for i, c in self.slack.channels.items() if c["name"] == name]
            if not match:
                self.print(f"No channel #{name} here yet.")
                return
            self.channel_id = match[0]
        elif words[:2] == ["click", "join"] and len(words) == 3:
            body = {
                "type": "block_actions",
                "trigger_id": f"console.{next(self._triggers)}",
                "user": {"id": self.user_id, "username": self.user_name},
                "channel": {"id": self.channel_id or "DCONSOLE"},
                "actions": [{"action_id": JOIN_ACTION, "value": words[2]}],
            }
            try:
                self.bot.actions.join(body=body, client=self.slack)
            except SlackApiError as exc:
                self.print(f"[slack error] {exc.response.get('error')}")
        else:
            self.print(INTRO)
