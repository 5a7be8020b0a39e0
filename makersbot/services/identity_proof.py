"""Proving a GitHub login (OAuth device flow) or a Trello username (a pasted token).

`/makers iam github` replies with GitHub's user code and page, then polls GitHub in the
background at the interval GitHub asks for (longer after `slow_down`) until the person enters
the code, refuses, or the code expires; the outcome arrives as a direct message. A process
restart loses a flow in progress (the person runs the command again): nothing is kept that
could be exchanged for a token. `/makers iam trello` gives Trello's authorize link; the token
it shows, pasted with `/makers iam trello token <token>`, is used once and never kept.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from integrations.changes import IntegrationError
from integrations.github.oauth import DeviceCode, DeviceFlow, DeviceFlowError, PollStatus
from integrations.trello.members import InvalidToken, TrelloMembers
from makersbot.db import Database
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.people import PeopleService
from makersbot.store.models import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Trello tokens: 64 hex digits, or the newer "ATTA…" form; never echoed back.
TRELLO_TOKEN = re.compile(r"^[A-Za-z0-9]{32,256}$")
MAX_FAILURES = 3  # GitHub not answering this many polls in a row ends the flow

FLOW_ENDINGS = {
    PollStatus.EXPIRED: "The GitHub code expired before it was entered. "
    "Run `/makers iam github` again for a new one.",
    PollStatus.DENIED: "You cancelled on GitHub, so nothing changed. "
    "`/makers iam github` starts again.",
    PollStatus.DISABLED: "This bot's GitHub app does not allow the device flow. "
    "Ask whoever runs the bot to tick “Enable Device Flow” in the app's settings.",
}


def start_thread(work: Callable[[], None]) -> None:
    """Run `work` in a daemon thread: a flow left polling never holds up a shutdown."""
    threading.Thread(target=work, name="makersbot-proof", daemon=True).start()


class IdentityProofs:
    """Proves GitHub and Trello accounts; `people.record_proof` links what was proven."""

    def __init__(
        self,
        db: Database,
        people: PeopleService,
        *,
        github: DeviceFlow | None = None,
        trello: TrelloMembers | None = None,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        background: Callable[[Callable[[], None]], None] = start_thread,
    ) -> None:
        self.db = db
        self.people = people
        self.github = github
        self.trello = trello
        self.clock = clock
        self.sleep = sleep
        self.background = background
        self._flows: dict[str, object] = {}  # the flow each person is polling now
        self._lock = threading.Lock()

    # GitHub ----------------------------------------------------------------------------

    def start_github(self, actor: Actor) -> Outcome:
        """Start a device flow: the person gets GitHub's code; the poll runs in the background."""
        if self.github is None:
            raise UserError(
                "Proving a GitHub account is not set up here (the bot needs "
                "GITHUB_OAUTH_CLIENT_ID). `/makers iam github <login>` records your login, "
                "unconfirmed, and an admin can confirm it."
            )
        try:
            code = self.github.request_code()
        except DeviceFlowError as exc:
            raise UserError(
                FLOW_ENDINGS.get(_status(exc.code), "GitHub would not start the sign-in.")
            ) from None
        except IntegrationError:
            raise UserError("GitHub did not answer. Try again in a minute.") from None
        flow = object()
        with self._lock:
            self._flows[actor.slack_user_id] = flow
        self.background(lambda: self._finish_github(actor.slack_user_id, code, flow))
        minutes = max(1, code.expires_in // 60)
        return Outcome(
            f"To prove your GitHub account, open {plain(code.verification_uri, 200)} and enter "
            f"the code *{plain(code.user_code, 20)}* within {minutes} minutes. "
            "I'll send you a message when it is done."
        )

    def _finish_github(self, slack_user_id: str, code: DeviceCode, flow: object) -> None:
        try:
            said = self._poll_github(slack_user_id, code, flow)
        except Exception:  # a background thread has nobody to raise to: say so, and log it
            log.exception("the GitHub device flow for %s failed", slack_user_id)
            said = "Something went wrong while waiting for GitHub. Try `/makers iam github` again."
        with self._lock:
            if self._flows.get(slack_user_id) is flow:
                del self._flows[slack_user_id]
            else:
                return  # a newer flow took over: it will speak for itself
        if said:
            with self.db.session() as session:
                self.people.tell(session, slack_user_id, said)

    def _poll_github(self, slack_user_id: str, code: DeviceCode, flow: object) -> str | None:
        """Poll until GitHub settles the flow; what to tell the person (None: superseded)."""
        assert self.github is not None
        interval = max(0, code.interval)
        deadline = self.clock() + timedelta(seconds=code.expires_in)
        failures = 0
        while self._flows.get(slack_user_id) is flow:
            self.sleep(interval)
            if self.clock() >= deadline:
                return FLOW_ENDINGS[PollStatus.EXPIRED]
            try:
                poll = self.github.poll(code.device_code)
            except IntegrationError:
                failures += 1
                if failures >= MAX_FAILURES:
                    return "GitHub stopped answering, so I could not finish. Try again later."
                continue
            failures = 0
            if poll.status == PollStatus.PENDING:
                continue
            if poll.status == PollStatus.SLOW_DOWN:
                interval = poll.interval or interval + 5
                continue
            if poll.token is None:
                return FLOW_ENDINGS.get(poll.status, "GitHub refused the sign-in; nothing changed.")
            try:
                login = self.github.login_of(poll.token)
            except IntegrationError:
                return "GitHub did not say who you are. Try `/makers iam github` again."
            return self.people.record_proof(slack_user_id, "github", login, by="github").reply
        return None

    # Trello ----------------------------------------------------------------------------

    def trello_link(self, actor: Actor) -> Outcome:
        """Where to get a token that proves a Trello account."""
        if self.trello is None:
            raise UserError(
                "Proving a Trello account is not set up here (the bot needs TRELLO_API_KEY). "
                "`/makers iam trello <username>` records your username, unconfirmed, and an "
                "admin can confirm it."
            )
        url = self.trello.authorize_url()
        return Outcome(
            f"To prove your Trello account: open <{url}|Trello's authorisation page>, allow "
            "read access for an hour, copy the token it shows, and paste it here: "
            "`/makers iam trello token <token>`. I use it once to ask Trello who you are, and "
            "never keep it."
        )

    def prove_trello(self, actor: Actor, token: str) -> Outcome:
        """Ask Trello who a pasted token belongs to, and link that username."""
        if self.trello is None:
            return self.trello_link(actor)
        token = token.strip()
        if not TRELLO_TOKEN.match(token):
            raise UserError(
                "That is not a Trello token: copy the whole token Trello shows after "
                "`/makers iam trello`."
            )
        try:
            member = self.trello.member_of(token)
        except InvalidToken:
            raise UserError(
                "Trello did not accept that token (tokens last an hour). "
                "`/makers iam trello` gives a new one."
            ) from None
        except IntegrationError:
            raise UserError("Trello did not answer. Try again in a minute.") from None
        return self.people.record_proof(actor.slack_user_id, "trello", member.username, by="trello")


def _status(code: str) -> PollStatus:
    try:
        return PollStatus(code)
    except ValueError:
        return PollStatus.OTHER
