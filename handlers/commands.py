"""`/makers` and its subcommands. Thin: parse, call a service, reply.

Each subcommand is a method whose `@subcommand` usage line and docstring are its help text.
Quick subcommands answer in the acknowledgement itself; slow ones (Slack channel work)
acknowledge at once and reply through `respond` when done.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from handlers import admin as admin_commands
from makersbot import render, render_privacy, render_similar
from makersbot.domain.messages import Message
from makersbot.domain.projects import Phase
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.domain.similar import LooksLikeExisting
from makersbot.services.digest import DigestService
from makersbot.services.identity_admin import IdentityAdmin
from makersbot.services.identity_proof import IdentityProofs
from makersbot.services.links import LinkService
from makersbot.services.people import PeopleService
from makersbot.services.privacy import PrivacyService
from makersbot.services.projects import ProjectService

log = logging.getLogger(__name__)

COMMAND = "/makers"
PHASES = "/".join(p.value for p in Phase)
# The slow half of `/makers` requests, after the acknowledgement (as many as Bolt's own
# listener executor runs), shared by every Commands of the process.
LATER = ThreadPoolExecutor(max_workers=10, thread_name_prefix="makers-later")


class Usage(Exception):
    """The subcommand was typed wrongly: answer with its usage line."""


@dataclass(frozen=True)
class Spec:
    name: str
    usage: str
    summary: str
    inline: bool | Callable[[str], bool]  # a function of the arguments: quick or slow
    method: Callable[..., Message]


F = TypeVar("F", bound=Callable[..., Message])


def subcommand(usage: str, *, inline: bool | Callable[[str], bool] = True) -> Callable[[F], F]:
    """Mark a method as a subcommand. `inline=False` runs it after the acknowledgement;
    a function of the arguments decides each time (True: answer in the acknowledgement)."""

    def mark(method: F) -> F:
        method.__dict__["_subcommand"] = (usage, inline)
        return method

    return mark


def reply(outcome: Outcome) -> Message:
    return render.text_reply(outcome.reply)


def iam_is_quick(args: str) -> bool:
    """`iam` answers in the acknowledgement unless it must ask Slack, GitHub or Trello
    (showing who you are re-reads your Slack e-mail first)."""
    words = args.lower().split()
    return words not in ([], ["github"]) and words[:2] != ["trello", "token"]


class Commands:
    """`/makers`: register with `app.command("/makers")(commands.listener)`."""

    def __init__(
        self,
        projects: ProjectService,
        people: PeopleService,
        links: LinkService,
        digest: DigestService,
        *,
        admins: frozenset[str],
        claim: Callable[[str], bool],
        privacy: PrivacyService,
        proofs: IdentityProofs | None = None,
        identity_admin: IdentityAdmin | None = None,
    ) -> None:
        self.projects = projects
        self.privacy = privacy
        self.proofs = proofs
        self.identity_admin = identity_admin
        self.people = people
        self.links = links
        self.digest = digest
        self.admins = admins
        self.claim = claim
        self.specs: dict[str, Spec] = {}
        # Slow work waiting for `later`, by trigger_id (the same process runs both steps).
        self._later: dict[str, tuple[Spec | None, Actor, str]] = {}
        # `later` calls submitted and not finished, for `wait_idle`.
        self._running: set[Future[None]] = set()
        self._running_lock = threading.Lock()
        for name in dir(self):
            method = getattr(self, name)
            marked = getattr(method, "_subcommand", None)
            if marked:
                usage, inline = marked
                summary = (method.__doc__ or "").strip().splitlines()[0]
                word = usage.split()[0]
                self.specs[word] = Spec(word, usage, summary, inline, method)

    # The listener ----------------------------------------------------------------------

    def listener(self, ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        """Bolt's listener for `/makers`: the acknowledgement, then `later` in LATER's
        threads only when it has something to do.

        Bolt's lazy listeners would deep-copy every request and start a thread for it,
        even for `list` and `info`, which answer in the acknowledgement and have nothing
        left to do: about 0.25 ms a request, a quarter of a bare Bolt ack served over HTTP
        (bench/ack.py). Like Bolt's lazy functions, `later` may start before Slack has
        read the acknowledgement.
        """
        answer = self.answer(body)
        # Bolt sends a lone text argument as the body, as it is (typed JSON when it starts
        # with `{`): the answer goes out encoded once per message, not once per request.
        # tests/test_ack_path.py checks that Slack gets the JSON the keywords would give.
        if answer is None:
            ack()
        else:
            ack(answer.ephemeral_body)
        if self.later_due(body):
            future = LATER.submit(self._later_logged, body, respond, client)
            with self._running_lock:
                self._running.add(future)
            future.add_done_callback(self._finished)

    def _finished(self, future: Future[None]) -> None:
        with self._running_lock:
            self._running.discard(future)

    def wait_idle(self, timeout: float) -> bool:
        """Wait (up to `timeout` seconds) for the `later` calls under way; False if some
        are still running. The bot waits for them before it closes the database."""
        with self._running_lock:
            running = list(self._running)
        return not wait(running, timeout=timeout).not_done

    def later_due(self, body: dict[str, Any]) -> bool:
        """Whether `later` has work for this request: a queued job or an e-mail check."""
        return str(body.get("trigger_id") or "") in self._later or self.people.email_check_due(
            str(body.get("user_id") or "")
        )

    def _later_logged(self, body: dict[str, Any], respond: Any, client: Any) -> None:
        try:
            self.later(body=body, respond=respond, client=client)
        except Exception:  # a thread of our own: nobody else would see it
            log.exception("the slow half of a /makers request failed")

    def acknowledge(self, ack: Any, body: dict[str, Any]) -> None:
        """The acknowledgement as keyword arguments to `ack` (the console, tests)."""
        answer = self.answer(body)
        if answer is None:
            ack()
        else:
            ack(**answer.as_kwargs(), response_type="ephemeral")

    def answer(self, body: dict[str, Any]) -> Message | None:
        """What `/makers` answers in its acknowledgement (None: an empty one): quick
        subcommands answer there; slow ones are acknowledged at once and left for `later`."""
        text = " ".join(str(body.get("text") or "").split())
        word, _, args = text.partition(" ")
        word = word.lower()
        actor = Actor(
            slack_user_id=str(body.get("user_id") or ""),
            display_name=str(body.get("user_name") or ""),
            channel_id=str(body.get("channel_id") or ""),
            is_admin=str(body.get("user_id")) in self.admins,
            request_key=str(body.get("trigger_id") or ""),
        )
        if word in ("", "help"):
            return self.help()
        spec = self.specs.get(word)
        if spec is None:
            return self._unknown(word)
        if spec.method.__name__ not in READ_ONLY:
            # Everything that changes something acts once per trigger_id (Slack retries).
            if actor.request_key and not self.claim(f"trigger:{actor.request_key}"):
                log.info("ignoring a repeated /makers request %s", actor.request_key)
                return None
        if spec.name == "start" and not args:
            self._later[actor.request_key] = (None, actor, args)
            return None
        if spec.inline(args) if callable(spec.inline) else spec.inline:
            return self._run(spec, actor, args)
        self._later[actor.request_key] = (spec, actor, args)
        return Message(text=f"Working on it: `/makers {word}`…")

    def later(self, body: dict[str, Any], respond: Any, client: Any) -> None:
        """The slow work of `/makers`, after the acknowledgement (from `listener`)."""
        # First, off the ack path: a Slack e-mail at a council's domain verifies the council.
        self.people.check_email(str(body.get("user_id") or ""))
        job = self._later.pop(str(body.get("trigger_id") or ""), None)
        if job is None:
            return
        spec, actor, args = job
        if spec is None:
            client.views_open(
                trigger_id=actor.request_key, view=render.start_modal(channel_id=actor.channel_id)
            )
            return
        respond(
            **self._run(spec, actor, args).as_kwargs(),
            response_type="ephemeral",
            replace_original=True,
        )

    def dispatch(self, ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        """Both steps in turn, as Bolt runs them: for the console and for tests."""
        self.acknowledge(ack=ack, body=body)
        self.later(body=body, respond=respond, client=client)

    def _run(self, spec: Spec, actor: Actor, args: str) -> Message:
        try:
            return spec.method(actor, args)
        except Usage:
            return render.text_reply(f"Usage: `/makers {spec.usage}`")
        except UserError as exc:
            return render.text_reply(exc.message)

    def _unknown(self, word: str) -> Message:
        known = ", ".join(f"`{name}`" for name in sorted(self.specs))
        return render.text_reply(
            f"I don't know `/makers {render.plain(word, 30)}`. Try one of {known}, "
            "or `/makers help`."
        )

    def help(self) -> Message:
        usages = [("help", "this list")]
        usages += [(spec.usage, spec.summary) for spec in self.specs.values()]
        return render.help_message(usages)

    # Subcommands -----------------------------------------------------------------------

    @subcommand("start <name> [— description]", inline=False)
    def start(self, actor: Actor, args: str) -> Message:
        """Start a cross-council project with its own channel (no name: a form)."""
        name, description = split_description(args)
        if not name:
            raise Usage
        try:
            return reply(self.projects.start(actor, name, description))
        except LooksLikeExisting as held:
            return render_similar.look_alike_prompt(held)

    @subcommand("join <project>", inline=False)
    def join(self, actor: Actor, args: str) -> Message:
        """Join a project: you are added to its channel."""
        return reply(self.projects.join(actor, args or None))

    @subcommand("leave <project>")
    def leave(self, actor: Actor, args: str) -> Message:
        """Stop being a member of a project."""
        return reply(self.projects.leave(actor, args or None))

    @subcommand("list [words]")
    def list(self, actor: Actor, args: str) -> Message:
        """Find projects: every word must match a name, description or council."""
        words = args.split()
        cards, total = self.projects.catalogue(words)
        return render.project_list(cards, total=total, words=words)

    @subcommand("info <project>")
    def info(self, actor: Actor, args: str) -> Message:
        """A project's card: phase, councils, status, links."""
        card = self.projects.card(actor, args or None)
        # Only you see this card: no Join button when you are already one of its makers.
        return render.project_card(card, with_join=not self.projects.is_maker(actor, card.id))

    @subcommand(f"phase <project> <{PHASES}>")
    def phase(self, actor: Actor, args: str) -> Message:
        """Report the phase a project has reached (its leads or an admin)."""
        words = args.split()
        if not words:
            raise Usage
        phase = phase_from(words[-1])
        return reply(self.projects.set_phase(actor, " ".join(words[:-1]) or None, phase))

    @subcommand("status <project> <text>")
    def status(self, actor: Actor, args: str) -> Message:
        """Report how a project is going, in one line (any of its makers)."""
        if not args:
            raise Usage
        return reply(self.projects.set_status(actor, args))

    # Who is who (services/people.py, identity_proof.py, identity_admin.py) ----------------

    @subcommand("iam council|github|trello <name>", inline=iam_is_quick)
    def iam(self, actor: Actor, args: str) -> Message:
        """Say who you are: council, GitHub, Trello (no name: prove the account)."""
        what, _, value = args.partition(" ")
        what = what.lower()
        if not what:
            return render.identity(self.people.identity(actor))
        if what == "council" and value:
            return reply(self.people.set_council(actor, value))
        if what == "github":
            return self._iam_github(actor, value)
        if what == "trello":
            return self._iam_trello(actor, value)
        raise Usage

    def _iam_github(self, actor: Actor, login: str) -> Message:
        if login:
            return reply(self.people.set_github(actor, login))
        return reply(self._proofs().start_github(actor))

    def _iam_trello(self, actor: Actor, value: str) -> Message:
        word, _, token = value.partition(" ")
        if word.lower() == "token":
            if not token:
                raise UserError("Usage: `/makers iam trello token <token>`")
            return reply(self._proofs().prove_trello(actor, token))
        if value:
            return reply(self.people.set_trello(actor, value))
        return reply(self._proofs().trello_link(actor))

    @subcommand("vouch @person")
    def vouch(self, actor: Actor, args: str) -> Message:
        """Confirm that someone is with your (verified) council; admins vouch for anyone."""
        if not args:
            raise Usage
        return reply(self.people.vouch(actor, args))

    @subcommand("admin <action> …", inline=admin_commands.is_quick)
    def admin(self, actor: Actor, args: str) -> Message:
        """Admins: fix councils, GitHub/Trello links and lead councils (`/makers admin`)."""
        if not actor.is_admin:
            raise UserError("Only admins (MAKERS_ADMINS) can use `/makers admin`.")
        assert self.identity_admin is not None, "build() wires IdentityAdmin"
        return admin_commands.AdminCommands(self.identity_admin).run(actor, args)

    def _proofs(self) -> IdentityProofs:
        assert self.proofs is not None, "build() wires IdentityProofs"
        return self.proofs

    @subcommand("adopt <project>")
    def adopt(self, actor: Actor, args: str) -> Message:
        """Your council uses what a project made: say so, and thank its makers."""
        return reply(self.projects.adopt(actor, args or None))

    @subcommand("gave <project> <what> | gave undo [#number]")
    def gave(self, actor: Actor, args: str) -> Message:
        """Record a contribution no tool sees: research, a workshop, funding (or undo one)."""
        if not args:
            raise Usage
        word, _, rest = args.partition(" ")
        if word.lower() == "undo":
            if rest and not re.fullmatch(r"#?\d+", rest.strip()):
                raise Usage
            return reply(self.projects.undo_gift(actor, rest))
        return reply(self.projects.gave(actor, args))

    @subcommand("lead <project> @person")
    def lead(self, actor: Actor, args: str) -> Message:
        """Make another maker a lead (leads change the phase and choose leads)."""
        if not args:
            raise Usage
        return reply(self.projects.make_lead(actor, args))

    @subcommand("link <project> github|trello <repo or board> [filters]", inline=False)
    def link(self, actor: Actor, args: str) -> Message:
        """Mirror a GitHub repo or Trello board (a private one only into a private channel)."""
        if not args:
            raise Usage
        return reply(self.links.link(actor, args))

    @subcommand("unlink <project> github|trello <repo or board>", inline=False)
    def unlink(self, actor: Actor, args: str) -> Message:
        """Stop mirroring a repo or board: its items and webhook go, and the channel is told."""
        if not args:
            raise Usage
        return reply(self.links.unlink(actor, args))

    @subcommand("links <project>")
    def links_(self, actor: Actor, args: str) -> Message:
        """What a project mirrors, with its filters."""
        return reply(self.links.links(actor, args))

    @subcommand("digest preview|now [--force]", inline=False)
    def digest_(self, actor: Actor, args: str) -> Message:
        """The weekly digest now: `preview` shows it to you; `now` (admins) posts it."""
        words = args.lower().split()
        if words == ["preview"]:
            return self.digest.preview()[0]
        if words[:1] == ["now"] and set(words[1:]) <= {"--force"}:
            return reply(self.digest.post_now(actor.slack_user_id, force="--force" in words))
        raise Usage

    # The open catalogue: visibility and the people's own data (issue 10) ----------------

    @subcommand("visibility <project> private|public")
    def visibility(self, actor: Actor, args: str) -> Message:
        """Keep a project out of the public catalogue, or show it again (its leads)."""
        words = args.split()
        if not words or words[-1].lower() not in ("private", "public"):
            raise Usage
        ref = " ".join(words[:-1]) or None
        return reply(self.projects.set_visibility(actor, ref, words[-1].lower()))

    @subcommand("mydata [@person]", inline=False)
    def mydata(self, actor: Actor, args: str) -> Message:
        """Get a file of everything the bot holds about you (admins: about anyone)."""
        return reply(self.privacy.send_data(actor, args))

    @subcommand("forget me|@person")
    def forget(self, actor: Actor, args: str) -> Message:
        """Erase your personal data, once you confirm (admins: anyone's)."""
        if not args.strip():
            raise Usage
        return render_privacy.forget_confirmation(self.privacy.preview_forget(actor, args))


# Subcommands that change nothing: no need to deduplicate them.
READ_ONLY = {"list", "info", "links_"}


def phase_from(text: str) -> Phase:
    """The phase named by `text`, or a UserError listing the phases."""
    try:
        return Phase(text.strip().lower())
    except ValueError:
        raise UserError(
            f"“{render.plain(text, 50)}” is not a phase. Use one of {PHASES}."
        ) from None


def split_description(args: str) -> tuple[str, str]:
    """ "Bin day reminders — remind residents" → name and description."""
    for separator in (" — ", " – ", " -- ", " - ", "—", "–"):
        if separator in args:
            name, _, description = args.partition(separator)
            return name.strip(), description.strip()
    return args.strip(), ""
