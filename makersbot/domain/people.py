"""People: who a Slack user is across the tools, and how far the bot has checked it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

GITHUB = "github"
TRELLO = "trello"
TOOLS = (GITHUB, TRELLO)
TOOL_NAMES = {GITHUB: "GitHub", TRELLO: "Trello"}


class Proof(StrEnum):
    """How far a GitHub login or Trello username is known to be the person's."""

    CLAIMED = "claimed"  # typed: shown as unconfirmed, credited to nobody
    PROVEN = "proven"  # proven through GitHub's device flow or a Trello token
    CONFIRMED = "confirmed"  # confirmed (or assigned) by an admin


class CouncilCheck(StrEnum):
    """How a person's council was verified; a claim is not."""

    CLAIMED = "claimed"
    EMAIL = "email"  # their confirmed Slack e-mail is at the council's domain
    VOUCH = "vouch"  # a verified member of that council vouched for them
    ADMIN = "admin"  # an admin (MAKERS_ADMINS) set or confirmed it


@dataclass(frozen=True)
class Identity:
    """Who a Slack user is across the tools."""

    slack_user_id: str
    council: str | None
    github_login: str | None
    trello_username: str | None
    projects: tuple[str, ...] = field(default_factory=tuple)
    council_check: CouncilCheck = CouncilCheck.CLAIMED
    github_proof: Proof = Proof.CLAIMED
    trello_proof: Proof = Proof.CLAIMED


def council_check(verified_by: str | None) -> CouncilCheck:
    """The check a stored `council_verified_by` ("email:…", "vouch:…", "admin:…") records."""
    kind = (verified_by or "").partition(":")[0]
    try:
        return CouncilCheck(kind) if kind else CouncilCheck.CLAIMED
    except ValueError:
        return CouncilCheck.ADMIN


def proof(verified_by: str | None) -> Proof:
    """The proof a stored `github_verified_by` / `trello_verified_by` records."""
    if not verified_by:
        return Proof.CLAIMED
    return Proof.CONFIRMED if verified_by.startswith("admin:") else Proof.PROVEN
