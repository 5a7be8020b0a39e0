"""Tests for the packaged council register and the forgiving matcher in makersbot.councils."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path

import pytest
import time_machine

from makersbot.councils import (
    Council,
    CouncilMatch,
    CouncilRegister,
    default_register,
)

# A fixed day after every start-date in the data, so counts do not move with the clock.
AFTER_ALL_STARTS = date(2026, 1, 1)

# The two combined county authorities that began on 2025-05-01.
STARTED_2025_05 = {"GLCA", "HYCA"}


@pytest.fixture(scope="module")
def register() -> CouncilRegister:
    return CouncilRegister.load(today=AFTER_ALL_STARTS)


def matched_code(register: CouncilRegister, text: str) -> str | None:
    council = register.match(text).council
    return council.code if council else None


def choice_codes(match: CouncilMatch) -> list[str]:
    return [council.code for council in match.choices]


# --- the register -------------------------------------------------------------------------------


def test_register_counts_per_nation(register: CouncilRegister) -> None:
    by_nation = Counter(council.nation for council in register)
    # Scotland has 32 council areas, Wales 22 principal areas, Northern Ireland 11 districts
    # (since 2015); none of them has changed since.
    assert by_nation["Scotland"] == 32
    assert by_nation["Wales"] == 22
    assert by_nation["Northern Ireland"] == 11
    # England's total includes county councils and combined authorities: 332 in the 2025 data.
    assert by_nation["England"] == 332
    assert set(by_nation) == {"England", "Scotland", "Wales", "Northern Ireland"}
    assert len(register) == 332 + 32 + 22 + 11


def test_register_types_match_known_english_structure(register: CouncilRegister) -> None:
    kinds = Counter(council.kind for council in register)
    assert kinds["London borough"] == 32
    assert kinds["Metropolitan district"] == 36
    assert kinds["County"] == 21  # county councils left after the 2023 reorganisations
    assert kinds["City corporation"] == 1  # the City of London


def test_register_holds_current_councils_only(register: CouncilRegister) -> None:
    # Abolished on 2023-04-01 (Cumbria, North Yorkshire County, Somerset County) and
    # 2021-04-01 (Northamptonshire): present in the source with an end-date, dropped here.
    for abolished in ("CMA", "NYK", "SOM", "NTH", "ALL", "SWT"):
        assert register.get(abolished) is None
    # Their successors are present.
    for successor in ("CBD", "WAF", "NYE", "SMT", "NNT", "WNT"):
        assert register.get(successor) is not None
    assert register.match("Cumbria County Council").council is None


def test_future_councils_are_dropped_before_their_start_date() -> None:
    before = CouncilRegister.load(today=date(2025, 4, 30))
    on_the_day = CouncilRegister.load(today=date(2025, 5, 1))
    assert {c.code for c in on_the_day} - {c.code for c in before} == STARTED_2025_05
    assert all(before.get(code) is None for code in STARTED_2025_05)
    assert Counter(c.nation for c in before)["England"] == 330


def test_register_before_the_2019_reorganisations() -> None:
    # 15 English authorities started between 2019-04-01 and 2025-05-01 (Dorset, BCP, East and
    # West Suffolk, Buckinghamshire, the Northamptonshires, the 2023 unitaries and 5 combined
    # authorities); without those England has 317.
    old = CouncilRegister.load(today=date(2019, 1, 1))
    assert Counter(c.nation for c in old)["England"] == 317
    assert old.get("DST") is None
    assert old.get("GRT") is not None  # no start-date in the data: always current


def test_load_defaults_to_today() -> None:
    with time_machine.travel(date(2025, 1, 1), tick=False):
        early = CouncilRegister.load()
    assert early.get("GLCA") is None
    assert early.get("GRT") is not None


def test_load_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert len(CouncilRegister.load(today=AFTER_ALL_STARTS)) == 397


def test_default_register_is_loaded_once() -> None:
    assert default_register() is default_register()
    assert default_register().get("GRT") is not None


def test_get_by_code(register: CouncilRegister) -> None:
    guildford = register.get("GRT")
    assert guildford == Council(
        code="GRT",
        name="Guildford Borough Council",
        short_name="Guildford",
        nation="England",
        region="South East",
        kind="Non-metropolitan district",
        gss_code="E07000209",
    )
    assert register.get(" grt ") == guildford
    assert register.get("XXX") is None
    assert register.get("") is None


def test_names_are_cleaned_of_stray_spaces(register: CouncilRegister) -> None:
    # The source has "North Somerset  Council" and "Newry, Mourne and Down ".
    north_somerset = register.match("North Somerset").council
    assert north_somerset is not None
    assert north_somerset.name == "North Somerset Council"
    newry = register.get("NMD")
    assert newry is not None
    assert newry.short_name == "Newry, Mourne and Down"


def test_iteration_yields_every_council_once(register: CouncilRegister) -> None:
    councils = list(register)
    assert len(councils) == len(register)
    assert len({c.code for c in councils}) == len(councils)
    assert len({c.gss_code for c in councils}) == len(councils)
    assert all(c.name and c.short_name and c.kind and c.region for c in councils)


def test_packaged_csv_is_self_contained() -> None:
    data = resources.files("makersbot").joinpath("data/uk_local_authorities.csv")
    rows = list(csv.DictReader(io.StringIO(data.read_text(encoding="utf-8"))))
    assert list(rows[0]) == [
        "local-authority-code",
        "official-name",
        "nice-name",
        "gss-code",
        "start-date",
        "nation",
        "region",
        "local-authority-type-name",
        "alt-names",
    ]
    assert len(rows) == 397


def test_packaged_readme_keeps_the_attribution() -> None:
    readme = resources.files("makersbot").joinpath("data/README.md").read_text(encoding="utf-8")
    assert "Contains data from mySociety's UK local authority names and codes, CC-BY-4.0" in readme


# --- matching: exact names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("guildford", "GRT"),
        ("Guildford", "GRT"),
        ("Guildford BC", "GRT"),
        ("guildford borough council", "GRT"),
        ("Guildford Borough Council", "GRT"),
        ("GUILDFORD BOROUGH COUNCIL", "GRT"),
        ("  Guildford Borough Council.  ", "GRT"),
        ("Woking", "WOI"),
        ("WOKING", "WOI"),
        ("Woking Borough Council", "WOI"),
        ("Wokingham", "WOK"),
        ("Surrey", "SRY"),
        ("Surrey CC", "SRY"),
        ("Surrey County Council", "SRY"),
        ("Surrey Heath", "SUR"),
        ("Durham", "DUR"),
        ("County Durham", "DUR"),
        ("Durham County Council", "DUR"),
        ("Kent", "KEN"),
        ("Kent County Council", "KEN"),
        ("Bristol", "BST"),
        ("City of Bristol", "BST"),
        ("Bristol City Council", "BST"),
        ("Brighton and Hove", "BNH"),
        ("Brighton & Hove", "BNH"),
        ("brighton & hove city council", "BNH"),
        ("St Albans", "SAL"),
        ("St. Albans", "SAL"),
        ("Saint Albans", "SAL"),
        ("St Albans District Council", "SAL"),
        ("Westminster", "WSM"),
        ("City of Westminster", "WSM"),
        ("Hull", "KHL"),
        ("Kingston upon Hull", "KHL"),
        ("Kingston-upon-Hull City Council", "KHL"),
        ("Rhondda Cynon Taf", "RCT"),
        ("Rhondda Cynon Taff", "RCT"),
        ("Na h-Eileanan Siar", "ELS"),
        ("Comhairle nan Eilean Siar", "ELS"),
        ("Western Isles", "ELS"),
        ("Ynys Môn", "AGY"),
        ("Anglesey", "AGY"),
        ("City and County of Swansea", "SWA"),
        ("Newcastle upon Tyne", "NET"),
        ("Newcastle-under-Lyme", "NEC"),
        ("newcastle under lyme borough council", "NEC"),
        ("King's Lynn and West Norfolk", "KIN"),
        ("Royal Borough of Greenwich", "GRE"),
        ("London Borough of Hammersmith & Fulham", "HMF"),
        ("Manchester", "MAN"),
        ("Greater Manchester", "GMCA"),
        ("City of London", "LND"),
        ("Greater London", "GLA"),
        ("Glasgow", "GLG"),
        ("Edinburgh", "EDH"),
        ("Lincoln", "LIC"),
        ("Lincolnshire", "LIN"),
        ("Warwick", "WAW"),
        ("Warwickshire", "WAR"),
        ("Herts CC", "HRT"),
        ("East Herts", "EHE"),
    ],
)
def test_match_names(register: CouncilRegister, text: str, code: str) -> None:
    match = register.match(text)
    assert match.council is not None, f"{text!r} matched nothing: {choice_codes(match)}"
    assert match.council.code == code
    assert match.choices == ()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Brighton", "BNH"),  # the only council whose name starts with it
        ("Stoke", "STE"),
        ("Hove", "BNH"),  # a whole word inside one name only
        ("Fulham", "HMF"),
        ("Maidenhead", "WNM"),
    ],
)
def test_match_part_of_a_single_name(register: CouncilRegister, text: str, code: str) -> None:
    assert matched_code(register, text) == code


def test_every_council_matches_its_own_names_and_codes(register: CouncilRegister) -> None:
    for council in register:
        for text in (council.name, council.short_name, council.code, council.gss_code):
            assert register.match(text).council == council, (text, council.code)


def test_codes_match_in_capitals_and_gss_in_any_case(register: CouncilRegister) -> None:
    assert matched_code(register, "GRT") == "GRT"
    assert matched_code(register, "RCT") == "RCT"
    assert matched_code(register, "E07000209") == "GRT"
    assert matched_code(register, "e07000209") == "GRT"
    assert matched_code(register, "RED") == "RED"
    # In lower case these are words, not the codes of Three Rivers and Redditch.
    assert register.match("the") == CouncilMatch(council=None, choices=())
    assert register.match("red") == CouncilMatch(council=None, choices=())


# --- matching: ambiguity ------------------------------------------------------------------------


def assert_choices(match: CouncilMatch, expected: set[str]) -> None:
    assert match.council is None
    assert 2 <= len(match.choices) <= 5
    assert len(set(match.choices)) == len(match.choices)
    assert expected <= set(choice_codes(match)), choice_codes(match)


def test_newcastle_is_ambiguous(register: CouncilRegister) -> None:
    match = register.match("Newcastle")
    assert_choices(match, {"NET", "NEC"})
    # The two councils come before the combined authority whose long name also starts so.
    assert choice_codes(match)[:2] == ["NET", "NEC"]


def test_newcastle_with_a_council_type_is_still_ambiguous(register: CouncilRegister) -> None:
    # "Borough Council" fits Newcastle-under-Lyme, but Newcastle upon Tyne is the one called
    # just "Newcastle": better to ask than to guess.
    assert_choices(register.match("Newcastle Borough Council"), {"NET", "NEC"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kingston", {"KHL", "KTT"}),
        ("London", {"LND", "GLA"}),
        ("Sussex", {"MSS", "ESX", "WSX"}),
        ("Northants", {"NNT", "WNT"}),
        ("Cheshire", {"CHE", "CHW"}),
    ],
)
def test_ambiguous_names_give_choices(
    register: CouncilRegister, text: str, expected: set[str]
) -> None:
    assert_choices(register.match(text), expected)


def test_part_of_a_county_does_not_stand_for_the_county(register: CouncilRegister) -> None:
    # West Berkshire is one of six Berkshire unitaries; "Berkshire" must not pick it.
    assert register.match("Berkshire").council is None


def test_a_longer_choice_list_is_capped_at_five(register: CouncilRegister) -> None:
    match = register.match("Yorkshire")
    assert match.council is None
    assert len(match.choices) == 5


# --- matching: typos ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Guildfrod", "GRT"),
        ("Manchestr", "MAN"),
        ("guildford borough counci", "GRT"),
        ("Wokingam", "WOK"),  # 94 for Wokingham against 86 for Woking: clear enough
        ("Rochdail", "RCH"),
        ("Hakney", "HCK"),
        ("Tunbridge Wels", "TUN"),
        ("Sheffeild City Council", "SHF"),
    ],
)
def test_typos_match_one_clear_winner(register: CouncilRegister, text: str, code: str) -> None:
    match = register.match(text)
    assert match.council is not None, f"{text!r} gave {choice_codes(match)}"
    assert match.council.code == code


def test_typo_between_two_names_gives_choices(register: CouncilRegister) -> None:
    # "Harow" is one letter from Harrow and from Harlow.
    assert_choices(register.match("Harow"), {"HRW", "HAR"})


def test_towns_of_abolished_councils_do_not_become_a_neighbour(register: CouncilRegister) -> None:
    # One letter from Harrow and Dover (83.3): below the acceptance threshold on purpose.
    assert register.match("Barrow").council is None
    assert register.match("Andover").council is None


@pytest.mark.parametrize(
    "text", ["", "   ", "xyzzy qwerty", "Borough Council", "the council", "?!", "zzzz"]
)
def test_nonsense_matches_nothing(register: CouncilRegister, text: str) -> None:
    assert register.match(text) == CouncilMatch(council=None, choices=())


# --- registers built from councils, and speed ---------------------------------------------------


def test_register_from_councils_matches_their_names() -> None:
    woking = Council("WOI", "Woking Borough Council", "Woking", "England", "South East", "d", "E1")
    wokingham = Council(
        "WOK", "Wokingham Borough Council", "Wokingham", "England", "South East", "u", "E2"
    )
    small = CouncilRegister([wokingham, woking])
    assert len(small) == 2
    assert list(small) == [wokingham, woking]
    assert small.match("woking bc").council == woking
    assert small.match("WOK").council == wokingham
    assert small.match("London").council is None  # shared names only list councils present
