"""The catalogue in a real browser: search and filter, a project page, a council page,
keyboard use, pages without JavaScript, and an axe-core scan of every kind of page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Site

AXE = Path(__file__).with_name("axe.min.js")
PAGES = [
    "/",
    "/?q=bin&phase=alpha",
    "/?q=zeppelin",
    "/?page=2",
    "/projects/bin-collection-reminders",
    "/projects/pothole-reporter",
    "/councils",
    "/councils/ADU",
    "/projects/no-such-project",
]


def results(page: Any) -> list[str]:
    """Project names in the results, in order."""
    return [name.strip() for name in page.locator(".app-project-list__item h3 a").all_inner_texts()]


def test_search_and_filter(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Projects councils make together"
    assert page.locator("#results-heading").inner_text() == "25 projects"
    page.get_by_label("Words").fill("pothole")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/?q=pothole**")
    assert page.locator("#results-heading").inner_text() == "1 project matches your search"
    assert results(page) == ["Pothole reporter"]
    page.get_by_label("Words").fill("")
    page.get_by_label("Phase").select_option("alpha")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**phase=alpha**")
    assert results(page) == ["Bin collection reminders"]
    page.get_by_label("Phase").select_option("")
    page.get_by_label("Council").select_option(label="Guildford")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**council=GRT**")
    assert results(page) == ["Pothole reporter", "Bin collection reminders"]
    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_url(site.url + "/")
    assert len(results(page)) == 20
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url("**/?page=2")
    assert len(results(page)) == 5 and page.url.endswith("/?page=2")


def test_a_project_page(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    page.get_by_role("link", name="Bin collection reminders").click()
    page.wait_for_url("**/projects/bin-collection-reminders")
    assert page.get_by_role("heading", level=1).inner_text() == "Bin collection reminders"
    assert "Alpha" in page.locator(".govuk-tag").first.inner_text()
    chart = page.get_by_role("img", name="Gives and takes per month, last 12 months")
    assert chart.is_visible()
    numbers = page.get_by_role("table", name="Gives and takes per month, last 12 months")
    assert not numbers.is_visible()
    page.get_by_text("Show the numbers").click()
    assert numbers.is_visible() and numbers.locator("tbody tr").count() == 12
    join = page.locator(".govuk-inset-text").inner_text()
    assert "/makers join bin-collection-reminders" in join
    assert page.get_by_role("link", name="octo-councils/bins").get_attribute("href") == (
        "https://github.com/octo-councils/bins"
    )
    phases = page.get_by_role("table", name="Phases of Bin collection reminders, oldest first")
    assert phases.locator("tbody tr").all_inner_texts()[1].endswith("Moved to discovery")


def test_a_council_page(page: Any, site: Site) -> None:
    page.goto(site.url + "/projects/bin-collection-reminders")
    page.locator(".govuk-summary-list__row", has_text="Lead council").get_by_role(
        "link", name="Adur"
    ).click()
    page.wait_for_url("**/councils/ADU")
    assert page.get_by_role("heading", level=1).inner_text() == "Adur District Council"
    assert page.get_by_role("img", name="Gives and takes per quarter, last two years").is_visible()
    leads = page.get_by_role("table", name="Projects it leads, most recently active first")
    assert leads.locator("tbody th a").all_inner_texts() == ["Bin collection reminders"]
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Councils").click()
    page.wait_for_url(site.url + "/councils")  # click() only starts the navigation
    assert page.get_by_role("link", name="Adur").first.is_visible()


def focused(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement, s = getComputedStyle(e);
                return {tag: e.tagName, id: e.id, text: (e.innerText || '').trim(),
                        outline: s.outlineStyle + ' ' + s.outlineWidth,
                        shadow: s.boxShadow, background: s.backgroundColor}; }"""
        )
    )


def test_keyboard_only(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["text"] == "Skip to main content"
    assert page.get_by_role("link", name="Skip to main content").is_visible()
    assert skip["background"] == "rgb(255, 221, 0)"  # GOV.UK's yellow focus state
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main-content"
    page.keyboard.press("Tab")
    words = focused(page)
    assert words["id"] == "q" and words["outline"].startswith("solid")
    page.keyboard.type("bin")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "phase"
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "council"
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Apply"
    page.keyboard.press("Enter")
    page.wait_for_url("**q=bin**")
    assert results(page) == ["Bin collection reminders"]
    # Through the results by keyboard alone: the first link after the form is the project.
    for _ in range(12):
        page.keyboard.press("Tab")
        if focused(page)["text"] == "Bin collection reminders":
            break
    assert focused(page)["text"] == "Bin collection reminders"
    page.keyboard.press("Enter")
    page.wait_for_url("**/projects/bin-collection-reminders")


@pytest.fixture
def no_js_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_readable_and_usable_without_javascript(no_js_page: Any, site: Site) -> None:
    page = no_js_page
    page.goto(site.url + "/")
    assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")
    assert page.get_by_role("link", name="Councils").first.is_visible()  # menu not collapsed
    page.get_by_label("Words").fill("leeds")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**q=leeds**")
    assert results(page) == ["Pothole reporter", "Planning alerts"]
    page.get_by_role("link", name="Planning alerts").click()
    page.wait_for_url("**/projects/planning-alerts")
    page.get_by_text("Show the numbers").click()  # a native details element
    assert page.get_by_role("table", name="Gives and takes per month, last 12 months").is_visible()


@pytest.fixture
def scan_page(browser: Any) -> Iterator[Any]:
    # axe is injected as a script; the pages' Content-Security-Policy would refuse it.
    context = browser.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()


def test_axe_finds_no_serious_or_critical_violations(scan_page: Any, site: Site) -> None:
    problems: dict[str, list[dict[str, Any]]] = {}
    for path in PAGES:
        scan_page.goto(site.url + path)
        scan_page.add_script_tag(path=str(AXE))
        report = scan_page.evaluate(
            """async () => await axe.run(document, {
                   runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                  'wcag22aa', 'best-practice']},
                   resultTypes: ['violations']})"""
        )
        assert report["testEngine"]["version"] == "4.14.1"
        bad = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
            for v in report["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            problems[path] = bad
    assert problems == {}, json.dumps(problems, indent=2)
