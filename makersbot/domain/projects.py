"""Projects: their phases, the roles people hold in them, and the card a project shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Phase(StrEnum):
    """The GOV.UK service phases a project moves through."""

    IDEA = "idea"
    DISCOVERY = "discovery"
    ALPHA = "alpha"
    BETA = "beta"
    LIVE = "live"
    RETIRED = "retired"


class Role(StrEnum):
    LEAD = "lead"
    MAKER = "maker"
    ADOPTER = "adopter"


class LedgerKind(StrEnum):
    GIVE = "give"
    TAKE = "take"


@dataclass(frozen=True)
class ProjectCard:
    """Everything a project card or catalogue line shows."""

    id: int
    slug: str
    name: str
    description: str
    phase: str
    lead_council: str | None
    makers: tuple[str, ...]
    adopters: tuple[str, ...]
    status_text: str
    status_at: datetime | None
    channel_id: str | None
    member_count: int
    links: tuple[tuple[str, str], ...] = ()
    updated_at: datetime | None = None
