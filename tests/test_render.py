"""Renderers: escaped, clipped to Slack's limits, and valid Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from makersbot import render
from makersbot.domain.messages import Message
from makersbot.domain.people import Identity
from makersbot.domain.projects import JOIN_ACTION, ProjectCard


def card(**overrides: object) -> ProjectCard:
    values: dict[str, object] = {
        "id": 1,
        "slug": "bins",
        "name": "Bin day reminders",
        "description": "Remind residents",
        "phase": "alpha",
        "lead_council": "Guildford",
        "makers": ("Guildford", "Woking"),
        "adopters": ("Leeds",),
        "status_text": "Testing",
        "member_count": 3,
        "status_at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        "channel_id": "C123",
    }
    values.update(overrides)
    return ProjectCard(**values)  # type: ignore[arg-type]


def assert_valid(message: Message) -> None:
    """Parse every block back through slack_sdk, which validates Slack's limits."""
    assert message.text and len(message.text) <= render.TEXT_LIMIT
    assert len(message.blocks) <= render.BLOCK_LIMIT
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


def test_escape_neutralises_mentions() -> None:
    assert render.escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_clip_never_cuts_an_entity() -> None:
    text = render.escape("a" * 8 + "&&&&")
    clipped = render.clip(text, 12)
    assert clipped == "aaaaaaaa…"
    assert render.clip("short", 10) == "short"


def test_project_card_shows_what_matters() -> None:
    message = render.project_card(card())
    assert_valid(message)
    text = str(message.blocks)
    assert "*Phase:* 🧪 Alpha   *Lead council:* Guildford" in text
    assert "makers: Guildford, Woking · using it: Leeds" in text
    assert "<!date^1795167000^{date_short}|20 Nov 2026>" in text
    assert message.blocks[-1]["elements"][0]["action_id"] == JOIN_ACTION


def test_huge_and_hostile_text_is_clipped_not_refused() -> None:
    hostile = "<!channel> " * 2000
    message = render.project_card(
        card(name="N" * 500, description=hostile, status_text=hostile, makers=("X" * 300,) * 50)
    )
    assert_valid(message)
    assert len(message.blocks[0]["text"]["text"]) == render.HEADER_LIMIT
    assert "<!channel>" not in str(message.blocks[1:]) and "<!channel>" not in message.text


def test_long_list_is_split_into_sections_within_limits() -> None:
    cards = [card(id=i, slug=f"p{i}", name=f"Project {i} " + "x" * 150) for i in range(20)]
    message = render.project_list(cards, total=57, words=["x"])
    assert_valid(message)
    assert "…and 37 more" in str(message.blocks)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message.blocks)


def test_views_are_valid() -> None:
    View(**render.start_modal(channel_id="C1")).validate_json()  # type: ignore[arg-type]
    home = render.home_view(Identity("U1", "Leeds City Council", "octo", None), [card()])
    View(**home).validate_json()  # type: ignore[arg-type]
    assert home["type"] == "home"


def test_counts_are_written_with_real_plurals() -> None:
    assert [render.plural(n, "member") for n in (0, 1, 2)] == ["0 members", "1 member", "2 members"]
    assert render.plural(1, "body", "bodies") == "1 body"
    one = str(render.project_card(card(member_count=1)).blocks)
    assert "· 1 member'" in one and "(s)" not in one
    assert "*2 projects*" in str(
        render.project_list([card(), card(id=2)], total=2, words=[]).blocks
    )
    assert "*1 project*" in str(render.project_list([card()], total=1, words=[]).blocks)


def test_phase_names_have_one_casing() -> None:
    assert [render.phase_name(p) for p in ("idea", "beta", "retired")] == [
        "Idea",
        "Beta",
        "Retired",
    ]
    assert render.phase_label("live") == "✅ Live"
    assert render.in_phase("alpha") == "in Alpha"
    assert render.in_phase("retired") == "Retired"  # "is now Retired", never "is now in retired"
    assert render.project_card(card(phase="retired")).text.startswith("Bin day reminders — Retired")


def test_a_personal_card_can_leave_out_the_join_button() -> None:
    message = render.project_card(card(), with_join=False)
    assert_valid(message)
    assert "Join this project" not in str(message.blocks)
