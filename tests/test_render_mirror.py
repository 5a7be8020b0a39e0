"""Living messages, thread notes and board summaries: escaped, clipped, valid Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from makersbot import render_mirror
from makersbot.domain.messages import Message
from makersbot.domain.mirror import ItemView, LinkView


def view(**overrides: object) -> ItemView:
    values: dict[str, object] = {
        "source": "github",
        "kind": "issue",
        "number": 42,
        "title": "Bin day reminders",
        "url": "https://github.com/octo/bins/issues/42",
        "state": "open",
        "closed": False,
        "deleted": False,
        "container_name": "octo/bins",
        "labels": ("bug", "ui"),
        "people": ("octocat",),
        "due": None,
        "comments": 3,
        "last_change": "labelled bug by hubot",
        "last_change_at": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return ItemView(**values)  # type: ignore[arg-type]


def valid(message: Message) -> None:
    assert message.text and len(message.text) <= 4000
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


def test_item_message_first_line_and_context() -> None:
    message = render_mirror.item_message(view())
    valid(message)
    assert message.blocks[0]["text"]["text"] == (
        "🟢 <https://github.com/octo/bins/issues/42|#42 Bin day reminders>"
    )
    context = message.blocks[1]["elements"][0]["text"]
    assert context.startswith("octo/bins · issue · open · 🏷 bug, ui · 👤 octocat · 💬 3 · ")
    assert context.endswith(
        "labelled bug by hubot <!date^1795687200^{date_short_pretty} {time}|26 Nov 2026 10:00 UTC>"
    )


def test_states_have_their_markers() -> None:
    def first(**kw: object) -> str:
        return str(render_mirror.item_message(view(**kw)).blocks[0]["text"]["text"])

    assert first(kind="pr", state="merged", closed=True).startswith("🟣")
    assert first(state="closed", closed=True).startswith("⚪")
    assert first(kind="pr", state="draft").startswith("📝")
    assert first(deleted=True).startswith("🗑 #42 Bin day reminders")  # no link to a 404
    card = first(
        source="trello", kind="card", number=7, state="Doing", url="https://trello.com/c/x"
    )
    assert card == "🗂 <https://trello.com/c/x|Bin day reminders>"
    assert first(source="trello", kind="card", closed=True).startswith("📦")


def test_hostile_and_huge_text_is_escaped_and_clipped() -> None:
    hostile = "<!channel> <@U1> & |pipe " * 400
    message = render_mirror.item_message(
        view(title=hostile, labels=(hostile,) * 20, last_change=hostile)
    )
    valid(message)
    everything = str(message.blocks) + message.text
    assert "<!channel>" not in everything and "<@U1>" not in everything
    assert len(message.blocks[0]["text"]["text"]) <= 3000
    note = render_mirror.thread_note("commented by x", comment=hostile)
    valid(note)
    assert "<!channel>" not in note.text and note.text.count("\n") <= 8


def test_board_summary_counts_and_recent_items() -> None:
    link = LinkView(
        source="github",
        name="octo/bins",
        url="https://github.com/octo/bins",
        counts=(("open", 12), ("merged", 8), ("closed", 40)),
        recent=tuple(view(number=n, title=f"Item {n}") for n in range(1, 8)),
        polling=True,
    )
    message = render_mirror.board_summary(link)
    valid(message)
    text = message.blocks[0]["text"]["text"]
    assert (
        text.splitlines()[0]
        == "🐙 *<https://github.com/octo/bins|octo/bins>* — open 12 · merged 8 · closed 40"
    )
    assert len(text.splitlines()) == 6  # the counts, then five items
    assert "checked every few minutes" in str(message.blocks[1])
