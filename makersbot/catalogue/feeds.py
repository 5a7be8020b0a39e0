"""The open-data feeds as text: publiccode.yml, catalogue JSON, league JSON and CSV.

Pure functions of the domain objects. Every document states the data licence and the
council register's attribution (`LICENCE`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import yaml

from makersbot.domain.catalogue import (
    LICENCE,
    CouncilRef,
    Diversity,
    LeagueRow,
    Period,
    ProjectSummary,
)
from makersbot.domain.projects import Phase

PUBLICCODE_VERSION = "0.7"
# The bot does not know a project's software licence: an SPDX LicenseRef says so in a form
# that SPDX expression parsers accept. Readers should look at the repository's LICENSE.
UNDECLARED_LICENCE = "LicenseRef-undeclared"
ONS_GEOGRAPHY = "http://statistics.data.gov.uk/id/statistical-geography/"

Url = Callable[[str], str]  # a path such as "/councils/ADU" -> an absolute URL


def licence_json() -> dict[str, Any]:
    return {
        "id": LICENCE.id,
        "name": LICENCE.name,
        "url": LICENCE.url,
        "attribution": list(LICENCE.attributions),
    }


def council_json(council: CouncilRef, url: Url) -> dict[str, Any]:
    return {
        "code": council.code,
        "gss_code": council.gss_code or None,
        "name": council.name,
        "short_name": council.short_name,
        "url": url(f"/councils/{council.code}"),
    }


def diversity_json(d: Diversity) -> dict[str, Any]:
    """CHAOSS organisational diversity, named as CHAOSS names the metrics."""
    return {
        "contributing_councils": d.contributing,
        "new_contributing_councils_this_quarter": d.new_this_quarter,
        "quarter": d.quarter,
        "elephant_factor": d.elephant_factor,
        "attributed_gives": d.attributed_gives,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def project_json(summary: ProjectSummary, diversity: Diversity, url: Url) -> dict[str, Any]:
    return {
        "slug": summary.slug,
        "name": summary.name,
        "description": summary.description,
        "phase": summary.phase,
        "development_status": summary.development_status,
        "lead_council": council_json(summary.lead, url) if summary.lead else None,
        "makers": [council_json(c, url) for c in summary.makers],
        "reusers": [council_json(c, url) for c in summary.reusers],
        "started": _iso(summary.created_at),
        "last_activity": _iso(summary.last_activity),
        "links": [{"source": k.source, "name": k.name, "url": k.url} for k in summary.links],
        "url": url(f"/projects/{summary.slug}"),
        "publiccode_url": url(f"/projects/{summary.slug}/publiccode.yml"),
        "chaoss": diversity_json(diversity),
    }


def catalogue_json(
    items: Sequence[tuple[ProjectSummary, Diversity]],
    *,
    page: int,
    pages: int,
    per_page: int,
    total: int,
    url: Url,
    now: datetime,
) -> dict[str, Any]:
    """One page of /catalogue.json with its licence and links to the neighbouring pages."""

    def page_url(n: int) -> str | None:
        return url(f"/catalogue.json?page={n}") if 1 <= n <= pages else None

    return {
        "licence": licence_json(),
        "generated_at": _iso(now),
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "next": page_url(page + 1),
        "previous": page_url(page - 1),
        "projects": [project_json(s, d, url) for s, d in items],
    }


# publiccode.yml -------------------------------------------------------------------------


def _main_repository(summary: ProjectSummary) -> str | None:
    for link in summary.links:
        if link.source == "github" and link.url:
            return link.url
    return None


def _long_description(summary: ProjectSummary, page: str) -> str:
    # The standard asks for 150 to 10,000 characters written for the software's users.
    parts = [summary.description.strip()] if summary.description.strip() else []
    facts = f"{summary.name} is made together by UK councils, now in the {summary.phase} phase."
    if summary.lead:
        facts += f" It is led by {summary.lead.name}."
    if summary.makers:
        facts += " Councils making it: " + ", ".join(c.name for c in summary.makers) + "."
    if summary.reusers:
        facts += " Councils reusing it: " + ", ".join(c.name for c in summary.reusers) + "."
    parts.append(facts)
    parts.append(
        f"Its phase history, status updates and activity are at {page}. Council teams join it "
        f"in Slack with /makers join {summary.slug}, and say that their council uses it with "
        f"/makers adopt {summary.slug}."
    )
    return "\n\n".join(parts)[:10_000]


def publiccode(summary: ProjectSummary, url: Url) -> dict[str, Any]:
    """The project as a publiccode.yml v0.7 document (a mapping, ready for YAML)."""
    page = url(f"/projects/{summary.slug}")
    short = summary.one_line or f"{summary.name}, made together by UK councils"
    document: dict[str, Any] = {
        "publiccodeYmlVersion": PUBLICCODE_VERSION,
        "name": summary.name,
        "url": _main_repository(summary) or page,
        "landingURL": page,
        "platforms": ["web"],
        "developmentStatus": summary.development_status,
        "softwareType": "standalone/web",
    }
    if summary.lead:
        uri = (
            ONS_GEOGRAPHY + summary.lead.gss_code
            if summary.lead.gss_code
            else url(f"/councils/{summary.lead.code}")
        )
        document["organisation"] = {"uri": uri, "name": summary.lead.name}
    if summary.reusers:
        document["usedBy"] = [c.name for c in summary.reusers]
    document["description"] = {
        "en": {
            "shortDescription": short[:150],
            "longDescription": _long_description(summary, page),
            "features": [short[:150]],
        }
    }
    document["legal"] = {"license": UNDECLARED_LICENCE}
    document["maintenance"] = _maintenance(summary)
    document["localisation"] = {"localisationReady": False, "availableLanguages": ["en"]}
    return document


def _maintenance(summary: ProjectSummary) -> dict[str, Any]:
    if summary.phase == Phase.RETIRED.value:
        return {"type": "none"}
    # The standard wants named people as contacts; the catalogue publishes no one, so the
    # contact is the project's team, reached by joining it (see the project page).
    contact: dict[str, Any] = {"name": f"The makers of {summary.name}"}
    if summary.lead:
        contact["affiliation"] = summary.lead.name
    return {"type": "community", "contacts": [contact]}


def publiccode_yaml(summary: ProjectSummary, url: Url) -> str:
    """publiccode.yml text, with the licence of the data as a leading comment."""
    header = (
        f"# publiccode.yml for {summary.name}, from the makers catalogue at "
        f"{url('/projects/' + summary.slug)}\n"
        f"# Data licence: {LICENCE.name} ({LICENCE.id}), {LICENCE.url}\n"
        + "".join(f"# {line}\n" for line in LICENCE.attributions)
    )
    body: str = yaml.dump(
        publiccode(summary, url),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return header + body


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Safe YAML with multi-line text as literal blocks (`|`), as people write them."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


# The league -----------------------------------------------------------------------------

LEAGUE_COLUMNS = (
    "period",
    "council_code",
    "gss_code",
    "council_name",
    "gives",
    "takes",
    "projects_led",
    "projects_made",
    "projects_reused",
    "licence",
    "attribution",
)


def league_json(rows: Sequence[LeagueRow], period: Period, url: Url) -> dict[str, Any]:
    return {
        "licence": licence_json(),
        "period": period.key,
        "start": _iso(period.start),
        "end": _iso(period.end),
        "councils": [
            {
                "council": council_json(r.council, url),
                "gives": r.gives,
                "takes": r.takes,
                "projects_led": r.projects_led,
                "projects_made": r.projects_made,
                "projects_reused": r.projects_reused,
            }
            for r in rows
        ],
    }


def league_csv(rows: Sequence[LeagueRow]) -> str:
    """One line per council. The licence and attribution ride on every line, so a row copied
    out of the file still says where it came from."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(LEAGUE_COLUMNS)
    attribution = "; ".join(LICENCE.attributions)
    for r in rows:
        writer.writerow(
            [
                r.period,
                r.council.code,
                r.council.gss_code,
                r.council.name,
                r.gives,
                r.takes,
                r.projects_led,
                r.projects_made,
                r.projects_reused,
                LICENCE.id,
                attribution,
            ]
        )
    return out.getvalue()
