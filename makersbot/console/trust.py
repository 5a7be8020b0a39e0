"""The console's side of trust: the Slack e-mail that verifies a council, and the person's
side of proving a GitHub or Trello account.

The bot's rules run as in production. A council is verified by a confirmed Slack e-mail at
one of its domains (`services/people.py` reads it with `users.info`), so the console's Slack
gives a person an address at the council they pick, unless they chose their own with
`:email`. A typed login credits nobody until proven, so when the bot hands out GitHub's
device code the console enters it for the person, and `/makers iam trello` is followed by
the token Trello's page would show.
"""

from __future__ import annotations

import difflib
import re

from makersbot.console.accounts import ConsoleAccounts
from makersbot.console.session import Session
from makersbot.console.slack import Printer
from makersbot.council_domains import CouncilDomains
from makersbot.councils import Council
from makersbot.domain.requests import UserError
from makersbot.store import people as people_store

EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
EMAIL_USAGE = (
    "Usage: :email <address> — your Slack e-mail here (Slack has confirmed it). At a "
    "council's domain it verifies that council; anywhere else (:email pat@consultancy.example) "
    "your council stays unverified and what you record waits out of the league."
)


def council_domain(domains: CouncilDomains, council: Council) -> str | None:
    """The domain to give the council's people: one no other council shares, the closest to
    its name (watford.gov.uk rather than watford-council.gov.uk); None when it has none."""
    name = re.sub(r"[^a-z0-9]", "", council.short_name.lower())

    def rank(domain: str) -> tuple[bool, float, int]:
        match = domains.match_host(domain)
        shared = match is None or len(match.codes) > 1
        label = re.sub(r"[^a-z0-9]", "", domain.split(".")[0])
        return shared, -difflib.SequenceMatcher(None, label, name).ratio(), len(domain)

    return min(domains.domains_of(council.code), key=rank, default=None)


class ConsoleTrust:
    """Gives the cast their Slack e-mails and plays their side of proving an account."""

    def __init__(self, session: Session, out: Printer) -> None:
        self.session = session
        self.out = out
        self.slack = session.slack
        self.people = session.bot.people

    @property
    def accounts(self) -> ConsoleAccounts:
        return self.session.accounts

    def before(self, user_id: str, name: str, text: str) -> None:
        """Before `/makers <text>` runs: picking a council gives a council e-mail."""
        words = text.split()
        if [w.lower() for w in words[:2]] == ["iam", "council"] and len(words) > 2:
            self._council_email(user_id, name, " ".join(words[2:]))

    def after(self, text: str) -> None:
        """After `/makers <text>` ran: the person's side of a proof it started."""
        for user_code, login in self.accounts.enter_new_codes():
            self.out(
                f"[github] You sign in to GitHub as {login} and enter the code {user_code} "
                "(offline: the console plays you on GitHub's page)."
            )
        if [w.lower() for w in text.split()] == ["iam", "trello"]:
            token, username = self.accounts.trello_token()
            self.out(
                f"[trello] You sign in to Trello as {username} and allow access; the page shows "
                f"a token (offline). Paste it: /makers iam trello token {token}"
            )

    def _council_email(self, user_id: str, name: str, said: str) -> None:
        if user_id in self.slack.emails or self._verified(user_id):
            return  # their Slack e-mail or council is settled: the bot's rules take it from here
        try:
            council = self.people.match_council(said)
        except UserError:
            return  # the command itself says what is wrong with the name
        domain = council_domain(self.people.domains, council)
        if domain is None:
            self.out(
                f"[console] {council.name} has no domain in the council domain register, so "
                "no Slack e-mail verifies it: a verified colleague or an admin can vouch for "
                "you (/makers vouch @you)."
            )
            return
        email = f"{name}@{domain}"
        self.slack.emails[user_id] = email
        if self.people.check_email(user_id, force=True):
            self.out(
                f"[console] {council.name}: verified by your e-mail {email} (offline). The "
                f"console's Slack confirms that address and {domain} is in the council domain "
                "register. (To see the unverified path, give yourself another address before "
                "you pick a council: :email <address>.)"
            )

    def set_email(self, user_id: str, rest: str) -> None:
        """`:email <address>`: the person's confirmed Slack e-mail, checked at once."""
        address = rest.strip()
        if not address:
            current = self.slack.emails.get(user_id)
            self.out(f"Your Slack e-mail here is {current}." if current else EMAIL_USAGE)
            return
        if not EMAIL.match(address):
            self.out(EMAIL_USAGE)
            return
        self.slack.emails[user_id] = address
        self.out(f"[console] Your Slack e-mail is now {address}, confirmed by Slack (offline).")
        if self._verified(user_id):
            self.out(
                "Your council is verified already, and an e-mail never undoes that; an admin "
                "can change it (/makers admin)."
            )
        elif self.people.domains.match_email(address) is None:
            self.out(
                "It is at no council's domain, so it verifies nothing: the council you pick "
                "stays unverified, and what you record waits out of the league until a "
                "verified colleague or an admin vouches for you (/makers vouch @you)."
            )
        else:
            self.people.check_email(user_id, force=True)

    def _verified(self, user_id: str) -> bool:
        with self.session.bot.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=user_id)
            return person is not None and people_store.council_verified(person)
