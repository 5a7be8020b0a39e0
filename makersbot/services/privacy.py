"""Privacy for the people in the bot (issue 10, item 6): `/makers mydata` and `/makers forget`.

`mydata` sends the person, as a JSON file in a direct message from the bot, everything the
bot holds about them (`store/privacy.py` says what that is). A file rather than a message:
the data of an active member runs past Slack's 4,000 characters a message, and a file keeps
its exact JSON. `forget` erases them after they press a confirmation button; the ledger keeps
its counts for their council. Admins (MAKERS_ADMINS) can do both for anyone, which is how a
council answers a subject access or erasure request it receives by other means.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from makersbot.db import Database
from makersbot.domain.privacy import Erasure, ForgetPreview
from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.outbox import Outbox
from makersbot.publishing import Publisher
from makersbot.render import plain
from makersbot.slack_gateway import SlackError, SlackGateway
from makersbot.store import people as people_store
from makersbot.store import privacy as privacy_store
from makersbot.store import projects as project_store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SELF = ("", "me", "myself")


class PrivacyService:
    """What the bot holds about a person: sent to them, or erased."""

    def __init__(
        self, db: Database, slack: SlackGateway, outbox: Outbox, publisher: Publisher, clock: Clock
    ) -> None:
        self.db = db
        self.slack = slack
        self.outbox = outbox
        self.publisher = publisher
        self.clock = clock

    # Whose data ------------------------------------------------------------------------

    def _target(self, session: Session, actor: Actor, who: str, verb: str) -> str:
        """The Slack user id `who` names ("me" or nothing: the actor); only admins may name
        someone else."""
        who = who.strip()
        if who.lower() in SELF:
            return actor.slack_user_id
        user = privacy_store.mentioned_user(who)
        if user is None:
            named = privacy_store.people_named(session, who=who)
            if len(named) > 1:
                raise UserError(
                    f"More than one person is called “{plain(who, 80)}”: give their Slack "
                    f"user id instead (`/makers {verb} U0123ABCD`)."
                )
            if not named:
                if not actor.is_admin:
                    raise self._not_admin(verb)
                raise UserError(f"I hold nothing about anyone called “{plain(who, 80)}”.")
            user = named[0].slack_user_id
        if user != actor.slack_user_id and not actor.is_admin:
            raise self._not_admin(verb)
        return user

    @staticmethod
    def _not_admin(verb: str) -> UserError:
        return UserError(
            f"Only the bot's admins (MAKERS_ADMINS) can do that for someone else. "
            f"`/makers {verb} me` does it for you."
        )

    # mydata ----------------------------------------------------------------------------

    def send_data(self, actor: Actor, who: str = "") -> Outcome:
        """Send the actor, as a JSON file in a direct message, what the bot holds about
        `who` (themselves unless an admin names someone)."""
        with self.db.session(read_only=True) as session:
            user = self._target(session, actor, who, "mydata")
            person = people_store.get_person(session, slack_user_id=user)
            if person is None:
                whom = "you" if user == actor.slack_user_id else f"<@{user}>"
                return Outcome(f"I hold nothing about {whom}: there is nothing to send.")
            data = privacy_store.export_person(session, person=person)
        data = {
            "about": "Everything makersbot holds about one person. PRIVACY.md says what each "
            "part is for and how long it is kept.",
            "exported_at": self.clock().isoformat(),
            **data,
        }
        content = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
        mine = user == actor.slack_user_id
        whose = "your" if mine else f"<@{user}>'s"
        erase = "`/makers forget me`" if mine else f"`/makers forget <@{user}>`"
        try:
            channel = self.slack.direct_message_channel(actor.slack_user_id)
            self.slack.upload_file(
                content,
                filename=f"makersbot-data-{user}.json",
                title=f"What makersbot holds about {user}",
                alt_text="",
                channel=channel,
                comment=f"Here is {whose} data, as JSON. {erase} erases it.",
            )
        except Exception as exc:  # Slack refused, or the upload's own connection broke
            why = f"Slack said `{exc.code}`" if isinstance(exc, SlackError) else "the upload failed"
            log.warning("could not send mydata: %s", why)
            raise UserError(
                f"I could not send the file ({why}). Try again later, or ask an admin."
            ) from None
        return Outcome(
            f"I have sent {whose} data as a file in a direct message from me "
            f"({len(content):,} bytes of JSON)."
        )

    # forget ----------------------------------------------------------------------------

    def preview_forget(self, actor: Actor, who: str) -> ForgetPreview:
        """What forgetting `who` would erase: shown before the confirmation button."""
        with self.db.session(read_only=True) as session:
            user = self._target(session, actor, who, "forget")
            person = people_store.get_person(session, slack_user_id=user)
            if person is None:
                whom = "you" if user == actor.slack_user_id else f"<@{user}>"
                raise UserError(f"I hold nothing about {whom}: there is nothing to erase.")
            memberships, entries = privacy_store.count_mine(session, person=person)
            alone = privacy_store.sole_lead_of(session, person=person)
        return ForgetPreview(
            slack_user_id=user,
            is_self=user == actor.slack_user_id,
            memberships=memberships,
            ledger_entries=entries,
            sole_lead_of=tuple(p.name for p in alone),
        )

    def forget(self, actor: Actor, slack_user_id: str) -> Erasure:
        """Erase a person (the actor themselves, or anyone for an admin), once confirmed."""
        if slack_user_id != actor.slack_user_id and not actor.is_admin:
            raise self._not_admin("forget")
        with self.db.session() as session:
            person = people_store.get_person(session, slack_user_id=slack_user_id)
            if person is None:
                raise UserError("There is nothing left to erase: it has been done.")
            leaderless = [p.name for p in privacy_store.sole_lead_of(session, person=person)]
            erased = privacy_store.erase_person(session, person=person)
            self._refresh_cards(session, erased.project_ids)
            if erased.messages_edited:
                self.outbox.wake_after_commit(session)
        log.info("forgot a person at the request of %s", "an admin" if actor.is_admin else "them")
        return Erasure(
            slack_user_id=slack_user_id,
            memberships=erased.memberships,
            ledger_entries=erased.ledger_entries,
            messages_edited=erased.messages_edited,
            messages_deleted=erased.messages_deleted,
            other_rows=erased.other_rows,
            leaderless=tuple(leaderless),
        )

    def _refresh_cards(self, session: Session, project_ids: tuple[int, ...]) -> None:
        """The cards of their projects list members and councils: show them without."""
        for project_id in sorted(set(project_ids)):
            project = project_store.get_project(session, project_id=project_id)
            project_store.touch_project(session, project=project, at=project.updated_at)
            self.publisher.project_card(session, project)
