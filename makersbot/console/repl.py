"""The console's read-eval-print loop: each line is a `/makers` command typed in Slack, a
`:command` that plays the console's side (who you are, GitHub, Trello, the clock), or empty.
"""

from __future__ import annotations

import itertools
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from slack_sdk.errors import SlackApiError

from makersbot.console import forms
from makersbot.console.accounts import SignedIn
from makersbot.console.cast import Cast, CastError, council_words, describe
from makersbot.console.play import PlayError, play_github, play_trello
from makersbot.console.session import CHARTS_DIR, ConsoleClock, Session
from makersbot.console.text import blocks_as_text, indent
from makersbot.console.trust import ConsoleTrust
from makersbot.domain.projects import JOIN_ACTION
from makersbot.settings import Settings

INTRO = """\
makersbot offline console — the real bot, with Slack, GitHub and Trello played here.
Type /makers help for the bot's commands, and :help for the console's. Repositories and
boards to link are waiting: :github repos, :trello boards. For a guided tour, leave and run
`makersbot console --demo`."""

HELP = """\
Console commands:
  :whoami                     who you are: name, Slack id, council, admin or not
  :people                     everyone in this console, with their Slack ids
  :as <name>                  be someone else (a new name is a new person: :as priya)
  :as <user id> <name>        be someone with a given Slack id (:as U002 priya)
  :admin                      be an admin for this session (for /makers digest now)
  :email <address>            your Slack e-mail. Picking a council gives you one at its
                              domain, which verifies it; set one elsewhere first to stay
                              unverified (:email pat@consultancy.example)
  :in <#channel|->            type your commands in a channel (- for none)
  :click join <project>       press the Join button on a project card
  :home                       open the bot's Home tab
  :channel <name>             create a Slack channel
  :github …   :trello …       play GitHub and Trello (:github help, :trello help)
  :wait <n> days|hours|minutes   move the clock on (the digest covers the last 7 days)
  :wait until <day> [HH:MM]   move the clock on to then (:wait until monday 09:00)
  :quit                       leave (or Ctrl-D)"""

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WAIT = re.compile(r"(\d+)\s*(d|day|days|h|hour|hours|m|min|minute|minutes)\b")


class Console:
    """One person (or several, in turn) typing at the bot."""

    def __init__(
        self,
        settings: Settings,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        clock: ConsoleClock | None = None,
        charts_dir: Path | None = None,
        echo: bool | None = None,
        introduce: bool = True,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        # Piped input is echoed, so that a transcript reads like the session it was.
        self.echo = (not self.stdin.isatty()) if echo is None else echo
        self.session = Session(
            settings, self.print, clock=clock or ConsoleClock(), charts_dir=charts_dir or CHARTS_DIR
        )
        self.bot, self.slack = self.session.bot, self.session.slack
        self.cast = Cast(self.bot.db, self.session.settings.admins)
        self.trust = ConsoleTrust(self.session, self.print)
        self.session.accounts.at_keyboard = self.signed_in
        # Nobody said who they are: ask, unless the command line did.
        self.introduce = introduce
        self.ask_name = introduce and user_id is None and user_name is None
        words = [w for w in (user_id, user_name) if w] or ["U0CONSOLE", "you"]
        self.user_id, self.user_name = self.cast.resolve(words)  # CastError: the CLI says it
        if not self.ask_name:
            self._become(self.user_id, self.user_name)
        self.channel_id = ""
        self._triggers = itertools.count(1)

    # Input and output --------------------------------------------------------------------

    def print(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def read(self, prompt: str) -> str | None:
        """One line typed at `prompt`; None at the end of the input.

        Echoing piped input, the prompt is written with the line it got, and `#` lines are
        narration, printed as they are and never shown as typed.
        """
        if not self.echo:
            self.stdout.write(prompt)
            self.stdout.flush()
            line = self.stdin.readline()
            return line.strip() if line else None
        while True:
            line = self.stdin.readline()
            if not line:
                return None
            if line.startswith("#"):
                self.print("\n" + line.strip())
                continue
            self.stdout.write(prompt + line.rstrip("\n") + "\n")
            self.stdout.flush()
            return line.strip()

    def loop(self) -> int:
        """The session: introductions, then one line at a time until :quit or the end."""
        self.print(INTRO)
        self.print(f"The weekly digest's hub channel (DIGEST_CHANNEL) is #{self.session.hub_name}.")
        pending = self._introductions()
        if pending:
            self.handle(pending)
        while True:
            where = f" in #{self.slack.name_of(self.channel_id)}" if self.channel_id else ""
            line = self.read(f"\n{self.user_name}{where}> ")
            if line is None:
                self.print("")
                return 0
            if line in (":quit", ":q", "exit", "quit"):
                return 0
            self.handle(line)

    def _introductions(self) -> str:
        """Who you are and your council, asked only when nobody said; a command typed at
        either question is run as a command, never taken as a name."""
        if self.ask_name:
            answer = self.read("\nWho are you? Your name (Enter for 'you'): ") or ""
            chosen = (self.user_id, self.user_name)
            if answer and not _is_command(answer):
                try:
                    chosen = self.cast.resolve([answer.split()[0]])
                except CastError as exc:
                    self.print(str(exc))
            self._become(*chosen)
            if _is_command(answer):
                self.print(self.whoami())
                return answer
        self.print(self.whoami())
        if self.introduce and self.cast.member(self.user_id).council is None:
            answer = self.read("Which council are you with? (Enter to skip): ") or ""
            if _is_command(answer):
                return answer
            if answer:
                self.handle(f"/makers iam council {answer}")
        return ""

    def whoami(self) -> str:
        """Name, Slack id, council and admin status, with how to change each."""
        me = self.cast.member(self.user_id)
        council = council_words(me) or "no council yet (/makers iam council <name>)"
        admin = (
            "You are an admin (/makers digest now works for you)."
            if me.admin
            else "You are not an admin: :admin makes you one for this session."
        )
        return f"You are @{me.name} ({me.slack_user_id}), with {council}. {admin}"

    def signed_in(self) -> SignedIn:
        """Who you are on the console's GitHub and Trello: the login you typed, or your name."""
        me = self.cast.member(self.user_id)
        return SignedIn(github=me.github or me.name, trello=me.trello or me.name)

    # One line ----------------------------------------------------------------------------

    def handle(self, line: str) -> None:
        """Run one line as the current person typing it, then let the bot settle."""
        line = line.strip()
        if not line or line.startswith("#"):
            return  # a comment: the demo's narration
        if line.startswith(":"):
            self._console_command(line[1:].strip())
        elif line.split()[0] == "/makers":
            self._slash(line.partition(" ")[2])
        elif line.startswith("/"):
            self.print(f"{line.split()[0]} is not this bot's command: type /makers help.")
        else:
            self.print("Type a /makers command, or :help for the console's commands.")
        self.session.settle()

    def actor(self) -> dict[str, Any]:
        return {"id": self.user_id, "username": self.user_name}

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
                shown = blocks_as_text(blocks, text, self.slack.name_of, urls=False)
                self.print("[only you see]\n" + indent(shown))
                if "MAKERS_ADMINS" in shown and self.user_id not in self.cast.admins:
                    self.print("[console] Type :admin to be an admin for this session.")

        self.trust.before(self.user_id, self.user_name, text)
        self.bot.commands.dispatch(ack=ack, body=body, respond=ack, client=self.slack)
        while self.slack.opened_views:
            view = self.slack.opened_views.pop(0)
            forms.fill_in(self, view)
        self.trust.after(text)

    # Console commands --------------------------------------------------------------------

    def _console_command(self, text: str) -> None:
        word, _, rest = text.partition(" ")
        commands = {
            "as": self._as,
            "in": self._in,
            "click": self._click,
            "home": lambda _: self._home(),
            "admin": lambda _: self._admin(),
            "email": lambda rest: self.trust.set_email(self.user_id, rest),
            "whoami": lambda _: self.print(self.whoami()),
            "people": lambda _: self._people(),
            "channel": self._channel,
            "github": self._github,
            "trello": self._trello,
            "wait": self._wait,
        }
        command = commands.get(word.lower())
        if command is None:
            self.print(HELP)
            return
        command(rest.strip())

    def _become(self, user_id: str, name: str) -> None:
        self.user_id, self.user_name = user_id, name
        self.cast.add(user_id, name)
        self.slack.users[user_id] = name

    def _as(self, rest: str) -> None:
        try:
            self._become(*self.cast.resolve(rest.split()))
        except CastError as exc:
            self.print(str(exc))
            return
        self.print(self.whoami())

    def _people(self) -> None:
        lines = [describe(m, you=m.slack_user_id == self.user_id) for m in self.cast.members()]
        self.print("\n".join(lines))

    def _admin(self) -> None:
        self.cast.admins.add(self.user_id)
        self.session.set_admins(frozenset(self.cast.admins))
        self.print(
            f"@{self.user_name} ({self.user_id}) is an admin for this session. To make it "
            f"last, set MAKERS_ADMINS={','.join(sorted(self.cast.admins))}."
        )

    def _in(self, rest: str) -> None:
        name = rest.lstrip("#")
        if name in ("-", ""):
            self.channel_id = ""
            return
        found = self.slack.channel_named(name)
        if found is None:
            self.print(f"No channel #{name} here yet.")
            return
        self.channel_id = found

    def _channel(self, rest: str) -> None:
        name = rest.lstrip("#").strip().lower()
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", name):
            self.print("Usage: :channel <name> (lower-case letters, digits, - and _)")
            return
        try:
            self.slack.conversations_create(name=name)
        except SlackApiError as exc:
            self.print(f"[slack error] {exc.response.get('error')}")
            return
        self.slack.conversations_invite(channel=self.slack.channel_id(name), users=self.user_id)

    def _click(self, rest: str) -> None:
        words = rest.split()
        if words[:1] != ["join"] or len(words) != 2:
            self.print("Usage: :click join <project>")
            return
        body = {
            "type": "block_actions",
            "trigger_id": f"console.{next(self._triggers)}.{id(self)}",
            "user": self.actor(),
            "channel": {"id": self.channel_id or "DCONSOLE"},
            "actions": [{"action_id": JOIN_ACTION, "value": words[1]}],
        }
        try:
            self.bot.actions.join(body=body, client=self.slack)
        except SlackApiError as exc:
            self.print(f"[slack error] {exc.response.get('error')}")

    def _home(self) -> None:
        event = {"type": "app_home_opened", "user": self.user_id, "tab": "home"}
        self.bot.events.home(event=event, client=self.slack)

    def _github(self, rest: str) -> None:
        self._play("github", rest)

    def _trello(self, rest: str) -> None:
        self._play("trello", rest)

    def _play(self, tool: str, rest: str) -> None:
        me = self.cast.member(self.user_id)
        try:
            if tool == "github":
                result = play_github(self.session.github, rest, by=me.github or self.user_name)
            else:
                result = play_trello(self.session.trello, rest, by=me.trello or self.user_name)
        except (PlayError, ValueError) as exc:
            self.print(str(exc))
            return
        except Exception as exc:  # an IntegrationError from the stand-in: not found
            self.print(f"[{tool}] {exc}")
            return
        if isinstance(result, str):
            self.print(result)
            return
        self.print(f"[{tool}] {result.what}")
        if not result.answers:
            self.print("  (no webhook: link it to a project and the bot will hear of changes)")
        for status, reason in result.answers:
            self.print(f"  webhook delivered to the bot: {status} {reason}")

    def _wait(self, rest: str) -> None:
        zone = self.bot.digest.schedule.zone
        delta = wait_for(rest, self.session.clock().astimezone(zone))
        if delta is None:
            self.print(
                "Usage: :wait <n> days|hours|minutes (:wait 2 days) or :wait until <day> [HH:MM] "
                "(:wait until monday 09:00)"
            )
            return
        self.session.clock.wait(delta)
        now = self.session.clock().astimezone(zone)
        self.print(f"[clock] It is now {now:%A %-d %B %Y, %H:%M}.")

    def close(self) -> None:
        self.session.stop()


def wait_for(text: str, now: datetime) -> timedelta | None:
    """How long `:wait …` waits from `now` (local time): "2 days 3 hours", or "until monday
    09:00" (the next such moment, a week on when it is that moment now); None if unclear."""
    words = text.lower().split()
    if words[:1] == ["until"]:
        day = next((n for n, name in enumerate(_DAYS) if words[1:2] == [name]), None)
        clock = re.fullmatch(r"(\d{1,2}):(\d{2})", words[2]) if len(words) > 2 else None
        if day is None or (len(words) > 2 and clock is None):
            return None
        hour, minute = (int(clock[1]), int(clock[2])) if clock else (now.hour, now.minute)
        target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        target += timedelta(days=(day - now.weekday()) % 7)
        if target <= now:
            target += timedelta(days=7)
        return target - now
    found = _WAIT.findall(text.lower())
    if not found:
        return None
    delta = timedelta()
    for number, unit in found:
        n = int(number)
        delta += {"d": timedelta(days=n), "h": timedelta(hours=n)}.get(
            unit[0], timedelta(minutes=n)
        )
    return delta


def _is_command(answer: str) -> bool:
    return answer.startswith(("/", ":"))
