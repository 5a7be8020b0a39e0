"""Everything `/makers` does to projects, as one service for the handlers.

Each behaviour has its own module: `project_lifecycle` (start, phase, status),
`project_membership` (join, leave, lead, adopt), `project_gifts` (gave and its undo),
`project_visibility` (private or public) and
`catalogue` (list, info, the Home tab);
`project_flow` holds what they share, including the one flow every change follows.
"""

from __future__ import annotations

from makersbot.services.catalogue import ProjectCatalogue
from makersbot.services.project_flow import ProjectRules
from makersbot.services.project_gifts import ProjectGifts
from makersbot.services.project_lifecycle import ProjectLifecycle
from makersbot.services.project_membership import ProjectMembership
from makersbot.services.project_visibility import ProjectVisibility


class ProjectService(
    ProjectLifecycle, ProjectMembership, ProjectGifts, ProjectVisibility, ProjectCatalogue
):
    """Projects for `/makers`: collaborators come in through __init__ (see ProjectFlow)."""


__all__ = ["ProjectRules", "ProjectService"]
