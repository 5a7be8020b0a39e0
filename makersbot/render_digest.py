"""The weekly digest as Slack messages: the hub digest and the project digests. Pure.

The data shapes come first (the services fill them, as `render_mirror` does for items), then
the renderers. A digest of any size fits Slack: the main message keeps the most important
lines of each part and says how many more follow; the rest continues in thread replies,
packed under Slack's limits (50 blocks, 3000 characters per section, `text` ≤ 4000) and under
the cumulative block text Slack accepts per message (about 12,000 characters, undocumented:
slackapi/bolt-js#2509), never by failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from makersbot.domain.digest import (
    GIVE_SOURCES,
    TAKE_SOURCES,
    CouncilTally,
    GiveBack,
    HubDigest,
    LiveProject,
    PhaseChange,
    ProjectDigest,
    ProjectRef,
    StaleProject,
)
from makersbot.domain.messages import Message
from makersbot.render import (
    BLOCK_LIMIT,
    HEADER_LIMIT,
    PHASE_MARKERS,
    SECTION_LIMIT,
    TEXT_LIMIT,
    clip,
    phase_label,
    plain,
)

# What a message's blocks may hold in all: below the ~12,000 characters Slack accepts.
MESSAGE_BUDGET = 10_000
LINE_LIMIT = 600  # one line of a list; keeps every section packable
MAIN_LEAGUE = 12
MAIN_LIST = 5
MAIN_NAMES = 12
MAIN_GIVE_BACK = 3
MAIN_STALE = 5
PROJECT_LIST = 10

OTHER = "other"
_SOURCE_WORDS = {**GIVE_SOURCES, **TAKE_SOURCES, OTHER: ("other", "other")}


# Words ----------------------------------------------------------------------------------


def count(n: int, one: str, many: str | None = None) -> str:
    """ "1 council", "3 councils"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def names_list(names: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C" (names already escaped)."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def day(moment: datetime) -> str:
    """A date as people say it, in the zone the moment carries: "30 Nov 2026"."""
    return f"{moment.day} {moment.strftime('%b %Y')}"


def link(url: str, label: str) -> str:
    """A mrkdwn link to an http(s) URL; just the (escaped) label otherwise."""
    text = plain(label, 150)
    if not url.startswith(("https://", "http://")):
        return text
    safe = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
    return f"<{safe}|{text}>"


def breakdown(parts: Iterable[tuple[str, int]]) -> str:
    words = []
    for source, n in parts:
        one, many = _SOURCE_WORDS.get(source, (OTHER, OTHER))
        words.append(f"{n} {one if n == 1 else many}")
    return ", ".join(words)


def change_marker(tally: CouncilTally) -> str:
    if tally.change > 0:
        return f"▲{tally.change}"
    if tally.change < 0:
        return f"▼{-tally.change}"
    return "="


def league_line(tally: CouncilTally) -> str:
    """ "*Leeds* · gave 5 (3 PRs merged, 2 reviews) · took 1 (1 adoption) · ▲2"."""
    parts = [f"*{plain(tally.name, 60)}*"]
    if tally.gave:
        parts.append(f"gave {tally.gave} ({breakdown(tally.gives)})")
    if tally.took:
        parts.append(f"took {tally.took} ({breakdown(tally.takes)})")
    if tally.gave or tally.gave_before:
        parts.append(change_marker(tally))
    return " · ".join(parts)


def project_name(project: ProjectRef) -> str:
    where = f" (<#{project.channel_id}>)" if project.channel_id else ""
    return f"*{plain(project.name, 80)}*{where}"


def summary(digest: HubDigest) -> str:
    """The one sentence that says how the week went."""
    if not digest.councils and not digest.unattributed_gives and not digest.unverified:
        return (
            "A quiet week: the bot saw no council give or take anything. "
            "`/makers gave <project> <what>` records what no tool sees."
        )
    sentences = []
    if digest.givers:
        sentence = f"{count(digest.givers, 'council')} gave {times(digest.total_gives)}"
        if digest.first_time:
            sentence += f"; {len(digest.first_time)} gave for the first time"
        sentences.append(sentence + ".")
    if digest.takers:
        sentences.append(
            f"{count(digest.takers, 'council')} reused others' work {times(digest.total_takes)}."
        )
    if digest.unattributed_gives:
        sentences.append(
            f"Another {count(digest.unattributed_gives, 'contribution')} came from people not "
            "linked to a council yet (`/makers iam council <name>`)."
        )
    if digest.unverified:
        are = "is" if digest.unverified == 1 else "are"
        sentences.append(
            f"{count(digest.unverified, 'entry', 'entries')} by people whose council is not "
            f"verified yet {are} left out until someone vouches for them (`/makers vouch`)."
        )
    return " ".join(sentences)


# Packing --------------------------------------------------------------------------------


@dataclass
class _Part:
    """One part of a digest: a title and its lines, the first `keep` in the main message."""

    title: str
    lines: list[str]
    keep: int
    intro: str = ""
    more: str = "in the thread"
    rest: list[str] = field(default_factory=list)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def _sections(title: str, lines: Sequence[str]) -> list[SectionBlock]:
    """Lines packed into as few sections as fit 3000 characters, the title on the first."""
    blocks: list[SectionBlock] = []
    chunk = [title] if title else []
    for line in lines:
        line = clip(line, LINE_LIMIT)
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 50:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    return blocks


def _block_text(block: Block) -> str:
    text = getattr(block, "text", None)
    if text is not None:
        return str(getattr(text, "text", text))
    elements = getattr(block, "elements", None) or []
    return "\n".join(str(getattr(e, "text", "")) for e in elements)


def _size(blocks: Sequence[Block]) -> int:
    return sum(len(_block_text(b)) for b in blocks)


def _message(blocks: Sequence[Block], text: str | None = None) -> Message:
    fallback = text if text is not None else "\n".join(_block_text(b) for b in blocks)
    return Message(text=clip(fallback, TEXT_LIMIT), blocks=[b.to_dict() for b in blocks])


def _messages(blocks: Sequence[Block]) -> list[Message]:
    """Blocks spread over as many messages as Slack's per-message limits need."""
    messages: list[Message] = []
    current: list[Block] = []
    for block in blocks:
        if current and (
            len(current) >= BLOCK_LIMIT or _size(current) + len(_block_text(block)) > MESSAGE_BUDGET
        ):
            messages.append(_message(current))
            current = []
        current.append(block)
    if current:
        messages.append(_message(current))
    return messages


def _compose(head: list[Block], parts: Sequence[_Part], foot: str) -> list[Message]:
    """The main message (head, the kept lines of each part, foot) and its thread replies."""
    main: list[Block] = list(head)
    thread: list[Block] = []
    for part in parts:
        if not part.lines:
            continue
        kept, rest = part.lines[: part.keep], part.lines[part.keep :]
        body = [part.intro] if part.intro else []
        body += kept
        if rest:
            body.append(f"…and {len(rest)} more {part.more}.")
        blocks = _sections(f"*{part.title}*", body)
        # The main message keeps to its budget; a part that does not fit goes whole to the
        # thread, and the main message says so in one line.
        if (
            _size(main) + _size(blocks) + len(foot) + 200 > MESSAGE_BUDGET
            or len(main) + len(blocks) >= BLOCK_LIMIT - 2
        ):
            main.append(
                _section(f"*{part.title}*: {count(len(part.lines), 'line')} in the thread.")
            )
            rest = part.lines
        else:
            main.extend(blocks)
        if rest:
            thread.extend(_sections(f"*{part.title}* (continued)", rest))
    if thread:
        foot += " · Detail continues in the thread."
    main.append(ContextBlock(elements=[MarkdownTextObject(text=clip(foot, SECTION_LIMIT))]))
    head_text = "\n".join(_block_text(b) for b in main[:2])
    return [_message(main, head_text)] + _messages(thread)


# The hub digest -------------------------------------------------------------------------


def hub_messages(digest: HubDigest) -> list[Message]:
    """The hub digest: main message first, thread continuations after."""
    period = digest.period
    header = HeaderBlock(text=clip(f"Makers digest: the week to {day(period.end)}", HEADER_LIMIT))
    head: list[Block] = [header, _section(summary(digest))]
    parts = [
        _Part(
            "Who gave and who took",
            [league_line(t) for t in digest.councils],
            MAIN_LEAGUE,
            more="councils in the thread",
        ),
        _Part(
            "First-time givers",
            (
                [names_list([plain(n, 60) for n in digest.first_time[:MAIN_NAMES]])]
                + [plain(n, 60) for n in digest.first_time[MAIN_NAMES:]]
                if digest.first_time
                else []
            ),
            1,
            intro="👋 A warm welcome, and thank you:" if digest.first_time else "",
        ),
        _Part("New projects", [_new_line(p) for p in digest.new_projects], MAIN_LIST),
        _Part("Reached Live", [_live_line(p) for p in digest.live], MAIN_LIST),
        _Part("Changed phase", [_phase_line(c) for c in digest.phase_changes], MAIN_LIST),
        _Part(
            "Small ways to give back",
            [_give_back_line(g) for g in digest.give_back],
            MAIN_GIVE_BACK,
            intro="Thank you for reusing what others made! If you would like to give "
            "something back, these are open and welcome help:",
        ),
        _Part(
            "Quiet for four weeks",
            [_stale_line(s) for s in digest.stale],
            MAIN_STALE,
            intro="Is there news? Leads: a `/makers status` line helps others find and join, "
            "or `/makers phase <project> retired` if it has ended.",
        ),
    ]
    foot = f"{period.key} · the 7 days to {day(period.end)} {period.end.strftime('%H:%M')}"
    if digest.councils:
        foot += " · ▲▼ gives compared with the 7 days before"
    return _compose(head, parts, foot)


def _new_line(project: ProjectRef) -> str:
    lead = f" · started by {plain(project.lead_council, 60)}" if project.lead_council else ""
    return f"• {project_name(project)}{lead}"


def _live_line(live: LiveProject) -> str:
    if live.adopters:
        used = "used by " + names_list([plain(a, 60) for a in live.adopters[:10]])
        if len(live.adopters) > 10:
            used += f" and {len(live.adopters) - 10} more"
    else:
        used = f"ready to adopt: `/makers adopt {live.project.slug}`"
    return f"• {PHASE_MARKERS['live']} {project_name(live.project)} · {used}"


def _phase_line(change: PhaseChange) -> str:
    return f"• {project_name(change.project)} moved to {phase_label(change.phase)}"


def _give_back_line(give_back: GiveBack) -> str:
    ideas = [
        f"{link(item.url, (f'#{item.number} ' if item.number else '') + item.title)} "
        f"({plain(item.project, 60)} · {plain(item.why, 40)})"
        for item in give_back.items
    ]
    return f"*{plain(give_back.council, 60)}*: " + "; ".join(ideas)


def _stale_line(stale: StaleProject) -> str:
    leads = ", ".join(f"<@{u}>" for u in stale.lead_user_ids if u.isalnum())
    return f"• {project_name(stale.project)} · " + (leads or "no lead: anyone can pick it up")


# Project digests ------------------------------------------------------------------------


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
    head: list[Block] = [_section(f"{title}\n{tally}" if tally else title)]
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
        _Part("🙌 Councils that contributed: thank you!", thanks, 30, more="in the thread"),
        _Part("⏳ Waiting on review for over a week", waiting, PROJECT_LIST),
    ]
    return _compose(head, parts, f"{digest.period.key} · the 7 days to {day(digest.period.end)}")


def to_terminal(messages: Sequence[Message]) -> str:
    """Messages as plain text for `makersbot digest --preview` (mrkdwn left as typed)."""
    out = []
    for n, message in enumerate(messages):
        if n:
            out.append(f"\n── in the thread ({n}/{len(messages) - 1}) ──")
        for block in message.blocks:
            text = block.get("text")
            if isinstance(text, dict):
                out.append(str(text.get("text", "")))
            for element in block.get("elements") or []:  # type: ignore[attr-defined]
                if isinstance(element, dict):
                    out.append(str(element.get("text", "")))
    return "\n".join(out).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
