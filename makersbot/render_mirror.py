"""Renderers for mirrored GitHub issues/PRs and Trello cards: living messages, board
summaries and thread notes. Pure: data in, Block Kit out."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from makersbot.domain.messages import Message
from makersbot.domain.mirror import ItemView, LinkView
from makersbot.render import (
    SECTION_LIMIT,
    TEXT_LIMIT,
    clip,
    escape,
    plain,
    safe_url,
    slack_date,
    slack_time,
)

MARKERS = {
    "open": "🟢",
    "draft": "📝",
    "merged": "🟣",
    "closed": "⚪",
    "archived": "📦",
    "deleted": "🗑",
}


def marker(item: ItemView) -> str:
    """The state marker: coloured dot for GitHub, the list for Trello."""
    if item.deleted:
        return MARKERS["deleted"]
    if item.source == "trello":
        return MARKERS["archived"] if item.closed else "🗂"
    return MARKERS.get(item.state, MARKERS["closed" if item.closed else "open"])


def state_words(item: ItemView) -> str:
    if item.deleted:
        return "deleted"
    if item.source == "trello":
        return "archived" if item.closed else (item.state or "card")
    return item.state


def item_title(item: ItemView, *, limit: int = 300) -> str:
    """`#42 Title` linked to the item, escaped."""
    number = f"#{item.number} " if item.number is not None and item.source == "github" else ""
    title = plain(item.title or "(untitled)", limit)
    label = f"{number}{title}"
    url = safe_url(item.url)
    if url and not item.deleted:
        # Link text cannot contain "|" or ">" unescaped; escape() handled ">", drop "|".
        return f"<{url}|{label.replace('|', '¦')}>"
    return label


def _context_line(item: ItemView) -> str:
    parts = [plain(item.container_name, 200)]
    kind = {"issue": "issue", "pr": "PR", "card": "card"}.get(item.kind, item.kind)
    parts.append(f"{kind} · {escape(state_words(item))}")
    if item.labels:
        parts.append("🏷 " + ", ".join(plain(label, 60) for label in item.labels[:8]))
    if item.people:
        parts.append("👤 " + ", ".join(plain(person, 60) for person in item.people[:6]))
    if item.due is not None:
        parts.append(f"📅 due {slack_date(item.due)}")
    if item.comments:
        parts.append(f"💬 {item.comments}")
    if item.last_change:
        when = f" {slack_time(item.last_change_at)}" if item.last_change_at else ""
        parts.append(f"{plain(item.last_change, 300)}{when}")
    return " · ".join(parts)


def item_message(item: ItemView) -> Message:
    """The living message of one item: state marker and linked title, then one context line."""
    headline = f"{marker(item)} {item_title(item)}"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip(headline, SECTION_LIMIT))),
        ContextBlock(elements=[MarkdownTextObject(text=clip(_context_line(item), SECTION_LIMIT))]),
    ]
    number = f"#{item.number} " if item.number is not None and item.source == "github" else ""
    text = f"{state_words(item)}: {number}{item.title} ({item.container_name})"
    if item.last_change:
        text += f" — {item.last_change}"
    return Message(text=clip(escape(text), TEXT_LIMIT), blocks=[b.to_dict() for b in blocks])


def thread_note(summary: str, comment: str | None = None) -> Message:
    """A reply in an item's thread: the state change, or a comment quoted briefly."""
    text = plain(summary, 500)
    if comment:
        quoted = "\n".join("> " + line for line in clip(escape(comment), 600).splitlines()[:8])
        text = f"{text}\n{quoted}"
    return Message(
        text=clip(text, TEXT_LIMIT),
        blocks=[SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT))).to_dict()],
    )


def join_notes(previous: str, note: Message) -> Message | None:
    """One thread reply carrying several changes: the earlier text, then the new note; None
    when together they would pass Slack's section limit (the note then gets its own reply,
    so no line is ever dropped)."""
    text = previous + "\n" + note.text
    if len(text) > SECTION_LIMIT:
        return None
    return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text)).to_dict()])


def board_summary(link: LinkView) -> Message:
    """The pinned summary: counts by state or list on one line, then recent items."""
    icon = "🐙" if link.source == "github" else "📋"
    url = safe_url(link.url)
    name = f"<{url}|{plain(link.name, 200)}>" if url else plain(link.name, 200)
    counts = " · ".join(f"{plain(state, 60)} {n}" for state, n in link.counts) or "no items yet"
    lines = [f"{icon} *{name}* — {counts}"]
    for item in link.recent[:5]:
        change = f" — {plain(item.last_change, 120)}" if item.last_change else ""
        lines.append(f"{marker(item)} {item_title(item, limit=120)}{change}")
    if not link.recent:
        lines.append("Changes to issues, pull requests and cards will show here.")
    how = "checked every few minutes" if link.polling else "updated as it happens"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), SECTION_LIMIT))),
        ContextBlock(elements=[MarkdownTextObject(text=f"Board summary, {how}.")]),
    ]
    text = f"{link.name}: {', '.join(f'{s} {n}' for s, n in link.counts) or 'no items yet'}"
    return Message(text=clip(escape(text), TEXT_LIMIT), blocks=[b.to_dict() for b in blocks])


def links_list(project_name: str, rows: Sequence[tuple[str, str, str]]) -> str:
    """`/makers links`: one line per link (source, name, how it is kept up to date)."""
    if not rows:
        return (
            f"*{plain(project_name, 100)}* mirrors nothing yet. "
            "`/makers link <project> github <owner/repo>` or `… trello <board url>`."
        )
    lines = [f"*{plain(project_name, 100)}* mirrors:"]
    lines += [f"• {source} `{plain(name, 200)}` — {how}" for source, name, how in rows]
    return "\n".join(lines)
