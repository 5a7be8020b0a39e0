"""People: who someone is across Slack, GitHub and Trello, which council they are with, and
how far the bot has checked it.

A council is verified by the person's confirmed Slack e-mail (its domain is in the packaged
council domain register), by someone already verified at that council who vouches, or by an
admin; otherwise it is a claim, and what the person records waits out of the league. A typed
GitHub login or Trello username is a claim too, credited to nobody until the person proves it
(`services/identity_proof.py`) or an admin confirms it (`services/identity_admin.py`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot.council_domains import CouncilDomains, DomainMatch, default_domains
from makersbot.councils import Council, CouncilRegister
from makersbot.db import Database
from makersbot.domain.people import TOOL_NAMES, Identity, Proof, council_check, proof
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.publishing import Publisher
from makersbot.render import plain, plural, text_reply
from makersbot.services import identity_replies as replies
from makersbot.services.identity_slack import SlackDirectory
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Person, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# GitHub: 1-39 characters, letters, digits and single inner hyphens.
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Trello: 3+ characters of lowercase letters, digits and underscores (we accept any case).
TRELLO_USERNAME = re.compile(r"^[A-Za-z0-9_]{3,100}$")
# A person named in a command: a mention as Slack escapes it, a bare user id, or @name.
MENTION = re.compile(r"^<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>$|^(?P<bare>[UW][A-Z0-9]{6,})$")
# An unverified person's Slack e-mail is read again at most this often (per process).
RECHECK_EMAIL = timedelta(minutes=10)


class PeopleService:
    """`/makers iam …` and `/makers vouch`: links a Slack user to a council and accounts."""

    def __init__(
        self,
        db: Database,
        register: CouncilRegister,
        publisher: Publisher,
        *,
        domains: CouncilDomains | None = None,
        directory: SlackDirectory | None = None,
        provable: frozenset[str] = frozenset(),
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.register = register
        self.publisher = publisher
        self.domains = domains or default_domains()
        self.directory = directory
        self.provable = provable  # tools whose logins can be proven here ("github", "trello")
        self.clock = clock
        self._checked: dict[str, datetime] = {}

    # Who I am --------------------------------------------------------------------------

    def identity(self, actor: Actor) -> Identity:
        with self.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=actor.slack_user_id)
            if person is None or person.id is None:
                return Identity(actor.slack_user_id, None, None, None)
            council = self._council_row_name(session, person.council_code)
            projects = tuple(
                p.name for p in project_store.projects_of(session, person_id=person.id)
            )
            return Identity(
                actor.slack_user_id,
                council,
                person.github_login,
                person.trello_username,
                projects,
                council_check=council_check(
                    person.council_verified_by if person.council_verified_at else None
                ),
                github_proof=_proof(person, "github"),
                trello_proof=_proof(person, "trello"),
            )

    # Councils --------------------------------------------------------------------------

    def set_council(self, actor: Actor, text: str) -> Outcome:
        """Match `text` against the UK register, forgivingly; a verified council stays."""
        council = self.match_council(text)
        with self.db.session() as session:
            person = self._person(session, actor)
            if people_store.council_verified(person):
                return Outcome(self._keep_verified(session, person, council))
            listed = self.domains.match_host(person.email_domain) if person.email_domain else None
            if listed is not None:
                if council.code not in listed.codes:
                    raise UserError(replies.not_shared(listed, self._names(listed.codes)))
                settled = self.verify(session, person, council, by=f"email:{listed.domain}")
                return Outcome(
                    f"You are with *{plain(council.name, 200)}*, verified by your Slack e-mail."
                    + replies.counted(settled.counted)
                )
            people_store.ensure_council(session, council=council)
            people_store.set_council(session, person=person, code=council.code)
            settled = people_store.attribute_past_entries(session, person=person)
            self._refresh_cards(session, person)
        reply = f"You are with *{plain(council.name, 200)}*."
        if settled.attributed:
            verb = "counts" if settled.attributed == 1 else "count"
            reply += (
                f" {plural(settled.attributed, 'earlier contribution')} now {verb} for it; "
                "they join the league when your council is verified."
            )
        return Outcome(reply + " " + replies.how_to_verify(council))

    def _keep_verified(self, session: Session, person: Person, council: Council) -> str:
        current = self._council_row_name(session, person.council_code) or "your council"
        how = replies.how_verified(person.council_verified_by)
        if person.council_code == council.code:
            return f"You are with *{plain(current, 200)}*, verified {how}."
        raise UserError(
            f"You are with *{plain(current, 200)}*, verified {how}, so you cannot change it to "
            f"{plain(council.name, 200)} yourself. If you have moved, an admin can: "
            f"`/makers admin council <@{person.slack_user_id}> {council.code}`."
        )

    def vouch(self, actor: Actor, text: str) -> Outcome:
        """`/makers vouch @person`: someone verified at a council (or an admin) verifies that
        the person is with it."""
        with self.db.session() as session:
            target = self.person_named(session, text)
            if target.slack_user_id == actor.slack_user_id:
                raise UserError(
                    "You cannot vouch for yourself: ask someone verified at your council."
                )
            code, by = self._voucher_council(session, actor, target)
            council = self._council(code)
            if people_store.council_verified(target):
                if target.council_code == code:
                    return Outcome(f"<@{target.slack_user_id}> is already verified.")
                raise UserError(
                    f"<@{target.slack_user_id}> is verified with another council; an admin can "
                    f"change it: `/makers admin council <@{target.slack_user_id}> {code}`."
                )
            settled = self.verify(session, target, council, by=by)
            self.tell(
                session,
                target.slack_user_id,
                f"<@{actor.slack_user_id}> vouched that you are with *{plain(council.name, 200)}*:"
                " your council is verified, and what you record counts for it."
                + replies.counted(settled.counted),
            )
        return Outcome(
            f"Thank you: <@{target.slack_user_id}> is verified with "
            f"*{plain(council.name, 200)}*." + replies.counted(settled.counted)
        )

    def _voucher_council(self, session: Session, actor: Actor, target: Person) -> tuple[str, str]:
        """The council a vouch verifies, and how it was verified ("vouch:…" / "admin:…")."""
        claim = target.council_code
        if actor.is_admin:
            if claim is None:
                raise UserError(
                    f"<@{target.slack_user_id}> has not said their council yet: they can with "
                    "`/makers iam council <name>`, or you can set it: "
                    f"`/makers admin council <@{target.slack_user_id}> <council>`."
                )
            return claim, f"admin:{actor.slack_user_id}"
        voucher = self._person(session, actor)
        if not people_store.council_verified(voucher) or voucher.council_code is None:
            raise UserError(
                "Only someone whose council is verified, or an admin, can vouch. "
                "Yours is not verified yet (`/makers iam` shows it)."
            )
        if claim is not None and claim != voucher.council_code:
            named = self._council_row_name(session, claim) or claim
            raise UserError(
                f"<@{target.slack_user_id}> says they are with *{plain(named, 200)}*: only "
                "someone verified there, or an admin, can vouch for them."
            )
        return voucher.council_code, f"vouch:{actor.slack_user_id}"

    def verify(
        self, session: Session, person: Person, council: Council, *, by: str
    ) -> people_store.Settled:
        """Make `council` the person's verified council; their waiting entries count now."""
        people_store.ensure_council(session, council=council)
        people_store.set_council(
            session, person=person, code=council.code, verified_at=self.clock(), verified_by=by
        )
        settled = people_store.attribute_past_entries(session, person=person)
        self._refresh_cards(session, person)
        return settled

    # Slack e-mail ----------------------------------------------------------------------

    def email_check_due(self, slack_user_id: str) -> bool:
        """Whether `check_email` would look now: no database, so an ack can ask it."""
        if not slack_user_id or self.directory is None:
            return False
        last = self._checked.get(slack_user_id)
        return last is None or self.clock() - last >= RECHECK_EMAIL

    def check_email(self, slack_user_id: str, *, force: bool = False) -> str | None:
        """Verify a person's council from their confirmed Slack e-mail, if it names one.

        Runs after a command is acknowledged; people already verified cost one read, others
        one `users.info` per RECHECK_EMAIL. Returns what changed, in words, or None.
        """
        if not force and not self.email_check_due(slack_user_id):
            return None
        if not slack_user_id or self.directory is None:
            return None
        self._checked[slack_user_id] = self.clock()
        try:
            with self.db.session(read_only=True) as session:
                person = people_store.get_person(session, slack_user_id=slack_user_id)
                if person is not None and people_store.council_verified(person):
                    return None
            email = self.directory.confirmed_email(slack_user_id)
            match = self.domains.match_email(email) if email else None
            return self._apply_email(slack_user_id, match) if match else None
        except Exception:  # a check that fails must not stop the command that led to it
            log.exception("checking %s's Slack e-mail failed", slack_user_id)
            return None

    def _apply_email(self, slack_user_id: str, match: DomainMatch) -> str | None:
        councils = [c for c in (self.register.get(code) for code in match.codes) if c]
        if not councils:
            return None
        with self.db.session() as session:
            person = people_store.ensure_person(session, slack_user_id=slack_user_id)
            if people_store.council_verified(person):
                return None  # an admin or a vouch settled it: an e-mail does not overrule them
            claimed = person.council_code
            chosen = next((c for c in councils if len(councils) == 1 or c.code == claimed), None)
            if chosen is None:
                first_time = person.email_domain != match.domain
                person.email_domain = match.domain
                session.add(person)
                if first_time:
                    self.tell(session, slack_user_id, replies.pick_one(match, councils))
                return None
            person.email_domain = match.domain
            settled = self.verify(session, person, chosen, by=f"email:{match.domain}")
            before = self._council_row_name(session, claimed) if claimed != chosen.code else None
            said = replies.verified_by_email(match.domain, chosen, before) + replies.counted(
                settled.counted
            )
            self.tell(session, slack_user_id, said)
        return said

    # GitHub and Trello -----------------------------------------------------------------

    def set_github(self, actor: Actor, login: str) -> Outcome:
        """A typed GitHub login: a claim until proven or confirmed."""
        login = login.strip().lstrip("@")
        if not GITHUB_LOGIN.match(login):
            raise UserError(f"“{plain(login, 60)}” is not a GitHub login (letters, digits, -).")
        return self._claim(actor, "github", login)

    def set_trello(self, actor: Actor, username: str) -> Outcome:
        """A typed Trello username: a claim until proven or confirmed."""
        username = username.strip().lstrip("@")
        if not TRELLO_USERNAME.match(username):
            raise UserError(
                f"“{plain(username, 60)}” is not a Trello username (letters, digits, _)."
            )
        return self._claim(actor, "trello", username)

    def _claim(self, actor: Actor, tool: str, login: str) -> Outcome:
        name, shown = TOOL_NAMES[tool], f"`{plain(login, 100)}`"
        with self.db.session() as session:
            person = self._person(session, actor)
            holder = people_store.login_holder(session, tool=tool, login=login)
            if holder is not None and holder.id == person.id:
                if people_store.login_verified(person, tool):
                    return Outcome(f"Your {name} account is {shown}, verified.")
            elif holder is not None:
                state = "proven" if people_store.login_verified(holder, tool) else "not proven"
                raise UserError(
                    f"{name} {shown} is already linked to <@{holder.slack_user_id}> ({state}). "
                    f"If it is yours, {self._prove_hint(tool)}: a proof replaces any claim."
                )
            else:
                people_store.set_login(session, person=person, tool=tool, login=login)
        return Outcome(
            f"Your {name} account is {shown}, unconfirmed: what it does on {name} is credited "
            f"to nobody until you {self._prove_hint(tool)}."
        )

    def _prove_hint(self, tool: str) -> str:
        if tool in self.provable:
            return f"prove it with `/makers iam {tool}`"
        return "ask an admin to confirm it"

    def record_proof(self, slack_user_id: str, tool: str, login: str, *, by: str) -> Outcome:
        """Link a proven (or admin-confirmed) login to a person. It replaces whoever held it,
        and what the tool recorded under the login moves to the person."""
        name, shown = TOOL_NAMES[tool], f"`{plain(login, 100)}`"
        with self.db.session() as session:
            person = people_store.ensure_person(session, slack_user_id=slack_user_id)
            holder = people_store.login_holder(session, tool=tool, login=login)
            if holder is not None and holder.id != person.id:
                people_store.set_login(session, person=holder, tool=tool, login=None)
                self.tell(
                    session, holder.slack_user_id, replies.replaced(name, shown, slack_user_id, by)
                )
            people_store.set_login(
                session,
                person=person,
                tool=tool,
                login=login,
                verified_at=self.clock(),
                verified_by=by,
            )
            moved = people_store.move_login_entries(session, person=person, tool=tool, login=login)
            has_council = person.council_code is not None
        reply = f"Your {name} account is {shown}, proven." if by == tool else ""
        reply = reply or f"{name} {shown} is now linked to <@{slack_user_id}>, confirmed."
        if moved:
            reply += f" {moved} contribution(s) made as {shown} are credited to it."
        if not has_council:
            reply += " Set your council too: `/makers iam council <name>`."
        return Outcome(reply)

    # Shared ----------------------------------------------------------------------------

    def person_named(self, session: Session, text: str) -> Person:
        """The person a command names: `<@U…>`, a user id, or `@name` as Slack shows it."""
        text = text.strip()
        mention = MENTION.match(text)
        if mention:
            user_id = mention["id"] or mention["bare"]
            return people_store.ensure_person(session, slack_user_id=user_id)
        name = text.lstrip("@").strip()
        person = people_store.person_named(session, name=name) if name else None
        if person is None:
            raise UserError(
                f"I don't know who “{plain(text, 80)}” is: mention them (`@name`), or use their "
                "Slack member ID (profile → ⋮ → Copy member ID)."
            )
        return person

    def tell(self, session: Session, slack_user_id: str, text: str) -> None:
        """A direct message to a person, sent through the outbox."""
        self.publisher.outbox.publish(
            session,
            key=f"identity:{slack_user_id}:{uuid.uuid4().hex}",
            channel=slack_user_id,
            message=text_reply(text),
        )

    def match_council(self, text: str) -> Council:
        """The one council `text` names; a UserError listing choices, or saying none."""
        match = self.register.match(text)
        if match.council is not None:
            return match.council
        if match.choices:
            options = "\n".join(
                f"• {plain(c.name, 200)} — `/makers iam council {c.code}`" for c in match.choices
            )
            raise UserError(f"Which council do you mean by “{plain(text, 100)}”?\n{options}")
        raise UserError(
            f"No UK council matches “{plain(text, 100)}”. Try its full name, "
            "e.g. `/makers iam council Guildford Borough Council`."
        )

    def _council(self, code: str) -> Council:
        council = self.register.get(code)
        if council is None:
            raise UserError(f"`{plain(code, 20)}` is no longer a council in the UK register.")
        return council

    def _names(self, codes: tuple[str, ...]) -> list[str]:
        return [c.name for c in (self.register.get(code) for code in codes) if c]

    def _person(self, session: Session, actor: Actor) -> Person:
        return people_store.ensure_person(
            session, slack_user_id=actor.slack_user_id, display_name=actor.display_name
        )

    @staticmethod
    def _council_row_name(session: Session, code: str | None) -> str | None:
        if code is None:
            return None
        row = people_store.councils_by_code(session, codes=[code]).get(code)
        return row.name if row else code

    def _refresh_cards(self, session: Session, person: Person) -> None:
        # The cards of the person's projects list councils: show the new one.
        if person.id is None:
            return
        for project in project_store.projects_of(session, person_id=person.id):
            project_store.touch_project(session, project=project, at=project.updated_at)
            self.publisher.project_card(session, project)


def _proof(person: Person, tool: str) -> Proof:
    if not people_store.login_verified(person, tool):
        return Proof.CLAIMED
    by = person.github_verified_by if tool == "github" else person.trello_verified_by
    return proof(by or tool)
