"""A project channel's week as Slack messages: what moved, who contributed, what waits. Pure."""

from __future__ import annotations

from makersbot.domain.digest import ProjectDigest
from makersbot.domain.messages import Message
from makersbot.render import phase_label, plain
from makersbot.render_digest_parts import (
    Block,
    Part,
    compose,
    count,
    day,
    link,
    names_list,
    section,
)

PROJECT_LIST = 10


def project_messages(digest: ProjectDigest) -> list[Message]:
    """A project channel's week; empty when there is nothing to say."""
    if not digest.has_news:
        return []
    counts = [
        f"🟢 {digest.opened} opened" if digest.opened else "",
        f"⚪ {digest.closed} closed" if digest.closed else "",
        f"🟣 {digest.merged} merged" if digest.merged else "",
        f"🗂 {count(digest.cards_done, 'card')} done" if digest.cards_done else "",
    ]
    title = f"*This week in {plain(digest.project.name, 80)}*"
    tally = " · ".join(c for c in counts if c)
    lines = [title] + ([tally] if tally else []) + _project_news(digest)
    head: list[Block] = [section("\n".join(lines))]
    thanks = [f"{plain(name, 60)} ({n})" for name, n in digest.contributors]
    if digest.unattributed:
        thanks.append(
            f"{count(digest.unattributed, 'contribution')} by people not linked to a council "
            "yet (`/makers iam council <name>`)"
        )
    waiting = [
        f"• {link(w.url, (f'#{w.number} ' if w.number else '') + w.title)} · open since "
        f"{day(w.opened_at)}"
        for w in digest.waiting
    ]
    parts = [
        Part("🙌 Councils that contributed: thank you!", thanks, 30, more="in the thread"),
        Part("⏳ Waiting on review for over a week", waiting, PROJECT_LIST),
    ]
    return compose(head, parts, f"{digest.period.key} · the 7 days to {day(digest.period.end)}")


def _project_news(digest: ProjectDigest) -> list[str]:
    """The week's phase changes, latest status and adoptions, one line each."""
    lines = []
    if digest.phases:
        reached = ", then ".join(phase_label(p) for p in digest.phases)
        lines.append(f"Moved to {reached}")
    if digest.status:
        lines.append(f"📣 Latest status: {plain(digest.status, 500)}")
    if digest.adopted_by:
        names = names_list([plain(n, 60) for n in digest.adopted_by])
        lines.append(f"🎉 Adopted by {names}")
    return lines
