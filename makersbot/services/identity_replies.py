"""The replies of `/makers iam`, `vouch` and the identity messages: mrkdwn, already escaped."""

from __future__ import annotations

from makersbot.council_domains import DomainMatch
from makersbot.councils import Council
from makersbot.render import plain

WAITS = "Until then what you record waits out of the league."


def counted(n: int) -> str:
    return f" {n} earlier contribution(s) now count for it." if n else ""


def how_to_verify(council: Council) -> str:
    return (
        "It is not verified yet: a Slack e-mail address at the council's domain verifies it by "
        f"itself; otherwise someone verified at {plain(council.short_name, 100)}, or an admin, "
        "can vouch for you (`/makers vouch @you`). " + WAITS
    )


def how_verified(verified_by: str | None) -> str:
    kind, _, detail = (verified_by or "").partition(":")
    if kind == "email":
        return f"by your Slack e-mail ({plain(detail, 100)})"
    if kind == "vouch":
        return f"by <@{detail}>"
    return "by an admin"


def verified_by_email(domain: str, council: Council, before: str | None) -> str:
    said = (
        f"Your Slack e-mail address is at {plain(domain, 100)}, so you are with "
        f"*{plain(council.name, 200)}*, verified."
    )
    if before:
        said += f" (You had said {plain(before, 200)}.)"
    return said + " What you record counts for it."


def pick_one(match: DomainMatch, councils: list[Council]) -> str:
    options = "\n".join(
        f"• {plain(c.name, 200)} — `/makers iam council {c.code}`" for c in councils
    )
    return (
        f"Your Slack e-mail address is at {plain(match.domain, 100)}, which these councils "
        f"share. Say which you are with and it is verified at once:\n{options}"
    )


def not_shared(match: DomainMatch, names: list[str]) -> str:
    return (
        f"Your Slack e-mail address is at {plain(match.domain, 100)}, the domain of "
        + " and ".join(f"*{plain(n, 200)}*" for n in names)
        + ": pick one of those, or ask an admin if you work for another council."
    )


def replaced(name: str, shown: str, holder: str, by: str) -> str:
    how = "an admin linked it to them" if by.startswith("admin:") else "they proved it is theirs"
    return (
        f"{name} {shown} is now <@{holder}>'s ({how}), so it is no longer linked to you. "
        f"Nothing that was yours is lost: only what {shown} did on {name} moves to them; what "
        "you recorded yourself stays yours."
    )
