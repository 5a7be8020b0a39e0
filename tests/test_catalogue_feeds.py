"""The open-data feeds: publiccode.yml against the standard's schema, the paginated catalogue,
the league per council and period, the CHAOSS metrics, and the licence on every one."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from sqlmodel import col, func, select

from makersbot.app import Bot
from makersbot.catalogue import feeds
from makersbot.domain.catalogue import LICENCE, CouncilRef, Diversity, LinkRef, ProjectSummary
from makersbot.domain.projects import Phase
from makersbot.store import ledger as ledger_store
from makersbot.store.models import LedgerEntry, Project
from makersbot.web import create_web_app
from tests.browser.world import GHOST_LOGIN, NOW, World, build_world

SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "publiccode" / "publiccode-0.7.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
ATTRIBUTION = "Contains data from mySociety's UK local authority names and codes, CC-BY-4.0"


@pytest.fixture
def world(bot: Bot) -> World:
    return build_world(bot)


def get(bot: Bot, path: str, status: int = 200) -> Any:
    response = create_web_app(bot).test_client().get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:300])
    return response


def errors(document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in VALIDATOR.iter_errors(document)]


# publiccode.yml -------------------------------------------------------------------------


def test_every_public_projects_publiccode_is_valid(bot: Bot, world: World) -> None:
    for slug in world.slugs.values():
        response = get(bot, f"/projects/{slug}/publiccode.yml")
        assert response.content_type == "application/yaml; charset=utf-8"
        body = response.get_data(as_text=True)
        assert LICENCE.name in body and ATTRIBUTION in body  # the leading comment
        document = yaml.safe_load(body)
        assert errors(document) == [], slug


def test_publiccode_fields_come_from_the_project(bot: Bot, world: World) -> None:
    body = get(bot, "/projects/bin-collection-reminders/publiccode.yml").get_data(as_text=True)
    document = yaml.safe_load(body)
    assert document["publiccodeYmlVersion"] == "0.7"
    assert document["name"] == "Bin collection reminders"
    assert document["url"] == "https://github.com/octo-councils/bins"
    assert document["developmentStatus"] == "development"  # alpha
    assert document["organisation"] == {
        "uri": "http://statistics.data.gov.uk/id/statistical-geography/E07000223",
        "name": "Adur District Council",
    }
    assert document["usedBy"] == ["Guildford Borough Council"]
    assert document["landingURL"].endswith("/projects/bin-collection-reminders")
    # Without a repository the url falls back to the project's page.
    planning = yaml.safe_load(get(bot, "/projects/planning-alerts/publiccode.yml").data)
    assert planning["url"] == planning["landingURL"]
    assert "usedBy" not in planning


@pytest.mark.parametrize(
    ("phase", "status"),
    [
        (Phase.IDEA, "concept"),
        (Phase.DISCOVERY, "concept"),
        (Phase.ALPHA, "development"),
        (Phase.BETA, "beta"),
        (Phase.LIVE, "stable"),
        (Phase.RETIRED, "obsolete"),
    ],
)
def test_phases_map_to_development_status_and_stay_valid(phase: Phase, status: str) -> None:
    adur = CouncilRef("ADU", "Adur District Council", "Adur", "E07000223", "England")
    summary = ProjectSummary(
        slug="x",
        name="X",
        description="",
        phase=phase.value,
        lead=adur,
        makers=(adur,),
        reusers=(),
        last_activity=NOW,
        links=(LinkRef("github", "org/x", "https://github.com/org/x"),),
        created_at=NOW,
    )
    document = feeds.publiccode(summary, lambda path: "https://makers.example" + path)
    assert document["developmentStatus"] == status
    assert document["maintenance"]["type"] == ("none" if phase == Phase.RETIRED else "community")
    assert errors(document) == []


def test_the_schema_rejects_what_the_standard_forbids() -> None:
    """The fixture is a transcription: check it bites where the standard's text does."""
    base = yaml.safe_load(
        feeds.publiccode_yaml(
            ProjectSummary("x", "X", "", "beta", None, (), (), NOW, (), NOW),
            lambda path: "https://makers.example" + path,
        )
    )
    assert errors(base) == []
    en = base["description"]["en"]
    contractor = {"name": "A", "until": "2027-01-01"}  # only for "contract" maintenance
    broken = [
        {**base, "developmentStatus": "alpha"},
        {**base, "maintenance": {"type": "community"}},  # contacts are required
        {**base, "maintenance": {"type": "none", "contractors": [contractor]}},
        {**base, "organisation": {"name": "Adur District Council"}},  # uri is required
        {**base, "description": {"en": {**en, "shortDescription": "x" * 151}}},
        {**base, "description": {"en": {**en, "longDescription": "short"}}},
        {**base, "legal": {"license": "not a licence!"}},
        {k: v for k, v in base.items() if k != "url"},
    ]  # fmt: skip
    for document in broken:
        assert errors(document), document


# /catalogue.json --------------------------------------------------------------------------


def test_catalogue_json_lists_every_public_project_with_licence_and_chaoss(
    bot: Bot, world: World
) -> None:
    response = get(bot, "/catalogue.json")
    assert response.content_type == "application/json"
    assert 'rel="license"' in response.headers["Link"]
    document = response.get_json()
    assert document["licence"]["id"] == "OGL-UK-3.0"
    assert document["licence"]["attribution"] == [ATTRIBUTION]
    assert document["total"] == 3 and document["pages"] == 1
    assert document["next"] is None and document["previous"] is None
    by_slug = {p["slug"]: p for p in document["projects"]}
    assert set(by_slug) == set(world.slugs.values())
    bins = by_slug["bin-collection-reminders"]
    assert bins["lead_council"]["code"] == "ADU"
    assert bins["lead_council"]["gss_code"] == "E07000223"
    assert [c["code"] for c in bins["makers"]] == ["ADU", "BNH"]
    assert [c["code"] for c in bins["reusers"]] == ["GRT"]
    assert bins["development_status"] == "development"
    assert bins["publiccode_url"].endswith("/projects/bin-collection-reminders/publiccode.yml")
    assert bins["chaoss"] == expected_chaoss(bot, "bin-collection-reminders")
    get(bot, "/catalogue.json?page=2", 404)


def test_catalogue_json_pages_through_many_projects(bot: Bot) -> None:
    world = build_world(bot, filler=60)
    first = get(bot, "/catalogue.json").get_json()
    assert first["pages"] == 2 and first["total"] == 63 and len(first["projects"]) == 50
    second = get(bot, "/catalogue.json?page=2").get_json()
    assert second["previous"].endswith("/catalogue.json?page=1") and second["next"] is None
    slugs = [p["slug"] for p in first["projects"] + second["projects"]]
    assert slugs == sorted(slugs) and set(slugs) == set(world.slugs.values())


def expected_chaoss(bot: Bot, slug: str) -> dict[str, Any]:
    """The CHAOSS figures worked out from the ledger by brute force."""
    quarter_start = datetime(2026, 10, 1, tzinfo=UTC)  # midnight in London is GMT in October
    with bot.db.session(read_only=True) as session:
        project = session.exec(select(Project).where(Project.slug == slug)).one()
        rows = session.exec(
            select(LedgerEntry.council_code, func.count(), func.min(LedgerEntry.occurred_at))
            .where(
                LedgerEntry.project_id == project.id,
                LedgerEntry.kind == "give",
                LedgerEntry.council_code.is_not(None),  # type: ignore[union-attr]
            )
            .group_by(LedgerEntry.council_code)
        ).all()
    counts = {code: n for code, n, _ in rows}
    total = sum(counts.values())
    smallest = next(
        size
        for size in range(1, len(counts) + 1)
        if any(2 * sum(counts[c] for c in group) >= total for group in combinations(counts, size))
    )
    return {
        "contributing_councils": len(counts),
        "new_contributing_councils_this_quarter": sum(1 for *_, t in rows if t >= quarter_start),
        "quarter": "2026-Q4",
        "elephant_factor": smallest,
        "attributed_gives": total,
    }  # fmt: skip


def test_chaoss_on_the_bins_project(bot: Bot, world: World) -> None:
    chaoss = expected_chaoss(bot, "bin-collection-reminders")
    # Adur, Brighton and Hove, and Leeds (first give five days ago); the ghost is not counted.
    assert chaoss["contributing_councils"] == 3
    assert chaoss["new_contributing_councils_this_quarter"] == 1
    words = get(bot, "/projects/bin-collection-reminders").get_data(as_text=True)
    assert f">{chaoss['elephant_factor']}" in words.replace("\n", "").replace(" ", "")
    assert GHOST_LOGIN not in words


# The league -------------------------------------------------------------------------------


def test_league_json_and_csv_agree_and_carry_the_licence(bot: Bot, world: World) -> None:
    document = get(bot, "/league.json").get_json()
    assert document["period"] == "2026-Q4" and document["licence"]["id"] == "OGL-UK-3.0"
    rows = {r["council"]["code"]: r for r in document["councils"]}
    assert set(rows) == {"ADU", "BNH", "GRT", "LDS", "CRF"}
    assert rows["GRT"]["projects_led"] == 1 and rows["GRT"]["projects_reused"] == 1
    assert rows["ADU"]["projects_made"] == 1 and rows["ADU"]["projects_reused"] == 1
    assert rows["LDS"]["projects_led"] == 1 and rows["LDS"]["projects_reused"] == 1
    response = get(bot, "/league.csv")
    assert response.content_type == "text/csv; charset=utf-8"
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["council_code"] for r in table} == set(rows)
    for line in table:
        assert line["licence"] == "OGL-UK-3.0" and line["attribution"] == ATTRIBUTION
        row = rows[line["council_code"]]
        assert int(line["gives"]) == row["gives"] and int(line["takes"]) == row["takes"]
        assert line["period"] == "2026-Q4"


def test_league_counts_match_the_ledger_without_private_projects(bot: Bot, world: World) -> None:
    # 2026-Q3 in London, where summer time is UTC+1.
    start, end = datetime(2026, 6, 30, 23, tzinfo=UTC), datetime(2026, 9, 30, 23, tzinfo=UTC)
    with bot.db.session() as session:  # an undone entry no longer counts
        window = (LedgerEntry.occurred_at >= start, LedgerEntry.occurred_at < end)
        undone = session.exec(select(LedgerEntry).where(*window)).first()
        assert undone is not None
        ledger_store.void_entry(session, entry=undone, by="U0LEAD", at=undone.occurred_at)
    document = get(bot, "/league.json?period=2026-Q3").get_json()
    assert document["start"] == "2026-07-01T00:00:00+01:00"
    with bot.db.session(read_only=True) as session:
        private = session.exec(select(Project.id).where(Project.visibility == "private")).one()
        entries = session.exec(
            select(LedgerEntry.council_code, LedgerEntry.kind, LedgerEntry.project_id).where(
                *window, col(LedgerEntry.voided_at).is_(None)
            )
        ).all()
    expected: dict[str, dict[str, int]] = {}
    for code, kind, project_id in entries:
        if code is None or project_id == private:
            continue
        expected.setdefault(code, {"give": 0, "take": 0})[kind] += 1
    got = {r["council"]["code"]: r for r in document["councils"] if r["gives"] or r["takes"]}
    assert {c: {"give": r["gives"], "take": r["takes"]} for c, r in got.items()} == expected


def test_league_refuses_a_malformed_period(bot: Bot, world: World) -> None:
    response = get(bot, "/league.json?period=2026-13", 400)
    assert "2026-Q4" in response.get_data(as_text=True)
    get(bot, "/league.csv?period=Q4", 400)


def test_diversity_json_names_the_chaoss_metrics() -> None:
    assert feeds.diversity_json(Diversity(3, 1, 2, "2026-Q4", 40)) == {
        "contributing_councils": 3,
        "new_contributing_councils_this_quarter": 1,
        "quarter": "2026-Q4",
        "elephant_factor": 2,
        "attributed_gives": 40,
    }
