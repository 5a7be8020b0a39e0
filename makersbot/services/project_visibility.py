"""Who can see a project outside Slack: `/makers visibility <project> private|public`.

A private project appears nowhere public (the catalogue pages and open-data feeds leave it
out); inside Slack it works as before. Only its leads and the admins choose.
"""

from __future__ import annotations

from makersbot.domain.requests import Actor, Outcome, UserError
from makersbot.render import plain
from makersbot.services.project_flow import ProjectFlow

PUBLIC, PRIVATE = "public", "private"
VISIBILITIES = (PUBLIC, PRIVATE)


class ProjectVisibility(ProjectFlow):
    """`/makers visibility`."""

    def set_visibility(self, actor: Actor, ref: str | None, visibility: str) -> Outcome:
        """Make a project private (left out of everything public) or public again."""
        if visibility not in VISIBILITIES:
            raise UserError("A project is either `public` or `private`.")
        # The card does not show it: no refresh.
        with self._changing(actor, ref, card=False) as change:
            project = change.project
            person = self._require_lead(change.session, actor, project, "change who sees it")
            if project.visibility == visibility:
                raise UserError(f"*{plain(project.name, 100)}* is already {visibility}.")
            project.visibility = visibility
            change.record("visibility", visibility, by=person.id)
            where = (
                "It no longer appears in the public catalogue or its open data."
                if visibility == PRIVATE
                else "It appears in the public catalogue and its open data again."
            )
            marker = "🔒" if visibility == PRIVATE else "🌐"
            change.announce(
                f"visibility:{actor.request_key}",
                f"{marker} <@{actor.slack_user_id}> made this project *{visibility}*. {where}",
            )
            name = project.name
        return Outcome(f"*{plain(name, 100)}* is now {visibility}. {where}")
