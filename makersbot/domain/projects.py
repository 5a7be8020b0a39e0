"""Projects: their phases, the roles people hold in them, and the card a project shows."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Ids of the project card's Join button and of the start-a-project form: shared by the
# renderer that emits them and the handler that receives them.
JOIN_ACTION = "makers_join"
UNDO_GIFT_ACTION = "makers_undo_gift"
START_VIEW = "makers_start"
START_NAME_BLOCK = "name"
START_NAME_INPUT = "name_input"
START_DESCRIPTION_BLOCK = "description"
START_DESCRIPTION_INPUT = "description_input"

MAX_SLUG = 60


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


class Verification(StrEnum):
    """How a ledger entry was checked, kept with it so that the digest can be audited."""

    MEMBER = "member"  # recorded in Slack by a member (lead, maker or adopter) of the project
    ADMIN = "admin"  # recorded in Slack by an admin (MAKERS_ADMINS) who is not a member
    WEBHOOK = "webhook"  # reported by GitHub or Trello (a signed delivery or the bot's poll)


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
    quiet_since: datetime | None = None  # flagged: no activity since then (eight weeks or more)

    def __hash__(self) -> int:
        # Renderers cache on cards (render.project_card, the catalogue's list): hashing
        # every field of twenty cards cost each `/makers list` a few microseconds. Equal
        # cards have the same id and update time, so this agrees with the generated __eq__.
        return hash((self.id, self.updated_at))


@dataclass(frozen=True)
class Gift:
    """A contribution recorded with `/makers gave`, as its announcement shows it."""

    id: int
    recorded_by: str  # Slack user id of the giver
    council: str | None  # the giver's council (short name), when known
    what: str
    undone_by: str | None = None  # Slack user id of who undid it


def slugify(name: str) -> str:
    """A channel-safe slug: lowercase ASCII letters, digits and single hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-")
