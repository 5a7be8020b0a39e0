"""`/makers admin …`: the admins' subcommands. Thin: parse, call IdentityAdmin, reply.

Each action is a small method with its usage line in ACTIONS; `/makers admin` alone lists
them. `handlers.commands.Commands.admin` checks that the person is an admin first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from makersbot import render
from makersbot.domain.messages import Message
from makersbot.domain.requests import Actor, Outcome
from makersbot.services.identity_admin import IdentityAdmin


class AdminUsage(Exception):
    """An admin action was typed wrongly: answer with its usage line."""


@dataclass(frozen=True)
class Action:
    usage: str  # after "/makers admin "
    summary: str
    run: Callable[[AdminCommands, Actor, str], Outcome]


class AdminCommands:
    """The actions of `/makers admin`, on top of IdentityAdmin."""

    def __init__(self, admin: IdentityAdmin) -> None:
        self.admin = admin

    def run(self, actor: Actor, args: str) -> Message:
        """Run `/makers admin <args>`; an unknown or missing action lists them all."""
        word, _, rest = args.partition(" ")
        action = ACTIONS.get(word.lower())
        if action is None:
            lines = [f"`/makers admin {a.usage}` — {a.summary}" for a in ACTIONS.values()]
            return render.text_reply("Admin actions:\n" + "\n".join(lines))
        try:
            return render.text_reply(action.run(self, actor, rest.strip()).reply)
        except AdminUsage:
            return render.text_reply(f"Usage: `/makers admin {action.usage}`")

    def verify_council(self, actor: Actor, rest: str) -> Outcome:
        if not rest:
            raise AdminUsage
        return self.admin.verify_council(actor, rest)

    def council(self, actor: Actor, rest: str) -> Outcome:
        who, _, council = rest.partition(" ")
        if not council:
            raise AdminUsage
        return self.admin.set_council_of(actor, who, council)

    def github(self, actor: Actor, rest: str) -> Outcome:
        return self._assign(actor, "github", rest)

    def trello(self, actor: Actor, rest: str) -> Outcome:
        return self._assign(actor, "trello", rest)

    def _assign(self, actor: Actor, tool: str, rest: str) -> Outcome:
        who, _, login = rest.partition(" ")
        if not login:
            raise AdminUsage
        return self.admin.assign_login(actor, tool, who, login)

    def forget(self, actor: Actor, rest: str) -> Outcome:
        tool, _, login = rest.partition(" ")
        if tool.lower() not in ("github", "trello") or not login:
            raise AdminUsage
        return self.admin.forget_login(actor, tool.lower(), login)

    def lead_council(self, actor: Actor, rest: str) -> Outcome:
        if not rest:
            raise AdminUsage
        return self.admin.lead_council(actor, rest)

    def check_emails(self, actor: Actor, rest: str) -> Outcome:
        return self.admin.check_emails(actor)


def is_quick(args: str) -> bool:
    """Every action answers in the acknowledgement but `check-emails`, which asks Slack."""
    return not args.lower().startswith("check-emails")


ACTIONS: dict[str, Action] = {
    "verify-council": Action(
        "verify-council <council>",
        "confirm everyone who says they are with a council",
        AdminCommands.verify_council,
    ),
    "council": Action(
        "council @person <council>", "set someone's council, verified", AdminCommands.council
    ),
    "github": Action(
        "github @person <login>",
        "link a GitHub login to someone, confirmed (taken from whoever had it)",
        AdminCommands.github,
    ),
    "trello": Action(
        "trello @person <username>",
        "link a Trello username to someone, confirmed (taken from whoever had it)",
        AdminCommands.trello,
    ),
    "forget": Action(
        "forget github|trello <login>",
        "unlink a login from whoever has it; its contributions wait for a proof",
        AdminCommands.forget,
    ),
    "lead-council": Action(
        "lead-council <project> <council>",
        "correct a project's lead council",
        AdminCommands.lead_council,
    ),
    "check-emails": Action(
        "check-emails",
        "verify unverified councils from people's Slack e-mail",
        AdminCommands.check_emails,
    ),
}
