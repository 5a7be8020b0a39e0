"""Loading the data that project cards and catalogue lines show."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlmodel import Session

from makersbot.domain.projects import ProjectCard, Role
from makersbot.store import activity as activity_store
from makersbot.store import people as people_store
from makersbot.store import projects as project_store
from makersbot.store.models import Project


def load_cards(session: Session, projects: Sequence[Project]) -> list[ProjectCard]:
    """Cards for several projects with two queries, whatever their number."""
    ids = [p.id for p in projects if p.id is not None]
    rows = project_store.member_councils(session, project_ids=ids)
    codes = {code for _, _, code in rows if code}
    codes |= {p.lead_council_code for p in projects if p.lead_council_code}
    councils = people_store.councils_by_code(session, codes=codes)
    quiet = activity_store.quiet_flags(session, project_ids=ids)

    def name(code: str | None) -> str | None:
        return councils[code].short_name if code and code in councils else None

    makers, adopters, members = _group_memberships(rows, name)
    cards = []
    for project in projects:
        assert project.id is not None
        lead = name(project.lead_council_code)
        maker_list = makers[project.id]
        if lead and lead in maker_list:
            # The lead council first: it is the one people look for.
            maker_list = [lead] + [c for c in maker_list if c != lead]
        cards.append(
            ProjectCard(
                id=project.id,
                slug=project.slug,
                name=project.name,
                description=project.description,
                phase=project.phase,
                lead_council=lead,
                makers=tuple(maker_list),
                adopters=tuple(c for c in adopters[project.id] if c not in maker_list),
                status_text=project.status_text,
                status_at=project.status_at,
                channel_id=project.channel_id,
                member_count=members[project.id],
                updated_at=project.updated_at,
                quiet_since=quiet.get(project.id),
            )
        )
    return cards


def _group_memberships(
    rows: Sequence[tuple[int, str, str | None]], name: Callable[[str | None], str | None]
) -> tuple[dict[int, list[str]], dict[int, list[str]], dict[int, int]]:
    """Per project: the making councils, the adopting councils (each once, in order) and
    the number of members."""
    makers: dict[int, list[str]] = defaultdict(list)
    adopters: dict[int, list[str]] = defaultdict(list)
    members: dict[int, int] = defaultdict(int)
    for project_id, role, code in rows:
        # Members are the people who make it; councils that adopted it are listed, not
        # counted (an adopter who joins becomes a maker and is counted then).
        if role != Role.ADOPTER.value:
            members[project_id] += 1
        council = name(code)
        if council is None:
            continue
        bucket = adopters if role == Role.ADOPTER.value else makers
        if council not in bucket[project_id]:
            bucket[project_id].append(council)
    return makers, adopters, members
