"""Block Kit renderers: pure functions from domain data to Slack messages and views.

Built with slack_sdk's Block Kit models so every message is validated the way Slack would;
text that came from people or other tools is escaped and clipped to Slack's limits here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from makersbot.domain.messages import Message
from makersbot.domain.people import CouncilCheck, Identity, Proof
from makersbot.domain.projects import (
    JOIN_ACTION,
    START_DESCRIPTION_BLOCK,
    START_DESCRIPTION_INPUT,
    START_NAME_BLOCK,
    START_NAME_INPUT,
    START_VIEW,
    UNDO_GIFT_ACTION,
    Gift,
    Phase,
    ProjectCard,
)

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TEXT_LIMIT = 4000
BLOCK_LIMIT = 50
LIST_LIMIT = 20

PHASE_MARKERS = {
    "idea": "💡",
    "discovery": "🔎",
    "alpha": "🧪",
    "beta": "🛠",
    "live": "✅",
    "retired": "📦",
}


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control sequences (`<!channel>` etc.)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Shorten text to `limit` characters with an ellipsis, never cutting an entity in two."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def plain(text: str, limit: int = SECTION_LIMIT) -> str:
    """Untrusted text made safe for mrkdwn: escaped, single-line where needed, clipped."""
    return clip(escape(text), limit)


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%-d %b %Y")
    return f"<!date^{int(moment.timestamp())}^{{date_short}}|{fallback}>"


def slack_time(moment: datetime) -> str:
    """A date and time in each reader's own zone ("Yesterday 14:05"), UTC as the fallback."""
    fallback = moment.strftime("%-d %b %Y %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def plural(n: int, one: str, many: str | None = None) -> str:
    """ "1 member", "2 members", "0 projects": a count with its noun, never "member(s)"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def phase_name(phase: str) -> str:
    """A phase as every message writes it: "Idea", "Discovery", "Alpha", "Beta", "Live",
    "Retired" (one casing everywhere; the lower-case words are only what people type)."""
    return phase.capitalize()


def phase_label(phase: str) -> str:
    """The phase with its marker, for cards and lists: "🧪 Alpha"."""
    return f"{PHASE_MARKERS.get(phase, '')} {phase_name(phase)}".strip()


def in_phase(phase: str) -> str:
    """The phase after "is now" / "is already": "in Alpha", but "Live" and "Retired", which
    are states a project is in rather than stages it is at."""
    return phase_name(phase) if phase in ("live", "retired") else f"in {phase_name(phase)}"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_LIMIT))])


def _message(text: str, blocks: Sequence[Block]) -> Message:
    return Message(
        text=clip(text, TEXT_LIMIT), blocks=[block.to_dict() for block in blocks[:BLOCK_LIMIT]]
    )


def text_reply(text: str) -> Message:
    """A short reply written by us (already escaped where it quotes people)."""
    return _message(text, [_section(text)])


def _councils_line(card: ProjectCard) -> str:
    parts = []
    if card.makers:
        parts.append("makers: " + ", ".join(plain(c, 200) for c in card.makers))
    if card.adopters:
        parts.append("using it: " + ", ".join(plain(c, 200) for c in card.adopters))
    return " · ".join(parts) if parts else "no councils yet"


# `/makers info` and `list` answer inside Slack's acknowledgement, mostly from cached cards:
# memoised, they cost a dictionary lookup instead of building Block Kit models (~0.2 ms).
# The Messages are shared, which is safe as nobody changes a rendered message.
@lru_cache(maxsize=1024)
def project_card(card: ProjectCard, *, with_join: bool = True) -> Message:
    """The pinned project card: name, phase, councils, latest status, links, and a Join button
    unless the project is retired (nothing left to join).

    The pinned card is one message that everyone sees, so it keeps the button; a personal
    view of the card (`/makers info` to one of its makers) passes `with_join=False`.
    `member_count` counts makers: councils that adopted it are listed, not counted.
    """
    lead = plain(card.lead_council, 200) if card.lead_council else "not set yet"
    lines = [
        f"*Phase:* {phase_label(card.phase)}   *Lead council:* {lead}",
        f"*Councils:* {_councils_line(card)}",
    ]
    if card.status_text:
        when = f" ({slack_date(card.status_at)})" if card.status_at else ""
        lines.append(f"*Latest status{when}:* {plain(card.status_text, 1500)}")
    if card.quiet_since is not None:
        lines.append(quiet_line(card.slug, card.quiet_since))
    blocks: list[Block] = [HeaderBlock(text=clip(card.name, HEADER_LIMIT))]
    if card.description:
        blocks.append(_section(plain(card.description, 2000)))
    blocks.append(_section("\n".join(lines)))
    context = [f"`{card.slug}`", plural(card.member_count, "member")]
    if card.channel_id:
        context.insert(0, f"<#{card.channel_id}>")
    context.extend(f"<{url}|{plain(label, 200)}>" for label, url in card.links)
    blocks.append(_context(" · ".join(context)))
    if with_join and card.phase != Phase.RETIRED.value:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Join this project",
                        action_id=JOIN_ACTION,
                        value=card.slug,
                        style="primary",
                    )
                ]
            )
        )
    text = f"{card.name} — {phase_name(card.phase)}; councils: {_councils_line(card)}"
    return _message(escape(text), blocks)


def quiet_line(slug: str, since: datetime) -> str:
    """The flag on a forgotten project's card, and what brings it back."""
    return (
        f"💤 *Nothing has happened here since {slack_date(since)}.* Is there news? "
        f"`/makers status {slug} <news>` tells everyone; "
        f"`/makers phase {slug} retired` says it has ended."
    )


def quiet_nudge(name: str, slug: str, channel_id: str | None, since: datetime) -> Message:
    """The one direct message a lead gets when their project has been quiet for 8 weeks."""
    where = f" (<#{channel_id}>)" if channel_id else ""
    text = (
        f"👋 *{plain(name, 100)}*{where}, which you lead, has had no activity since "
        f"{slack_date(since)}: no status, phase, new member, contribution or mirrored change. "
        "Others looking for it cannot tell whether it is still going."
    )
    ask = (
        f"• Still going? Post a line: `/makers status {slug} <what is happening>`\n"
        f"• Finished or stopped? `/makers phase {slug} retired` keeps it in the catalogue "
        "as a record of what was learnt.\n"
        "I ask only once; while it stays quiet, the weekly digest lists it as forgotten."
    )
    return _message(f"{text}\n{ask}", [_section(text), _section(ask)])


def gift_message(gift: Gift) -> Message:
    """A `gave` announcement with its Undo button; once undone, struck through, no button."""
    whom = plain(gift.council, 100) if gift.council else f"<@{gift.recorded_by}>"
    line = f"🙌 {whom} gave: {plain(' '.join(gift.what.split()), 1000)}"
    if gift.undone_by is None:
        note = f"Recorded by <@{gift.recorded_by}> · contribution #{gift.id}"
        button = ButtonElement(text="Undo", action_id=UNDO_GIFT_ACTION, value=str(gift.id))
        blocks: list[Block] = [
            SectionBlock(text=MarkdownTextObject(text=clip(line, SECTION_LIMIT)), accessory=button),
            _context(note + " · they or an admin can undo it"),
        ]
        return _message(line, blocks)
    line = f"~{line}~"
    note = f"Undone by <@{gift.undone_by}>: contribution #{gift.id} no longer counts."
    return _message(f"{line} {note}", [_section(line), _context(note)])


def project_line(card: ProjectCard) -> str:
    """One catalogue line: name, slug, phase, councils, channel."""
    councils = len(set(card.makers) | set(card.adopters))
    who = plain(card.lead_council, 200) if card.lead_council else "no lead council"
    if councils > 1:
        who += f" + {councils - 1} more"
    where = f" · <#{card.channel_id}>" if card.channel_id else ""
    return f"*{plain(card.name, 200)}* `{card.slug}` · {phase_label(card.phase)} · {who}{where}"


def project_list(cards: Sequence[ProjectCard], *, total: int, words: Sequence[str]) -> Message:
    """The catalogue, at most LIST_LIMIT lines, saying how to narrow it when cut."""
    return _project_list(_SameCards(tuple(cards)), total, tuple(words))


class _SameCards:
    """Cards as a cache key, equal only to the very same card objects.

    The catalogue hands out the same cards until a project changes (services/catalogue.py);
    comparing twenty cards field by field cost each `/makers list` about 20 µs, more than
    the rest of its answer. The key holds its cards, so their ids are not reused while it
    is cached; equal cards loaded afresh miss once and are rendered again.
    """

    __slots__ = ("cards", "_hash")

    def __init__(self, cards: tuple[ProjectCard, ...]) -> None:
        self.cards = cards
        self._hash = hash(tuple(map(id, cards)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _SameCards)
            and len(self.cards) == len(other.cards)
            and all(a is b for a, b in zip(self.cards, other.cards, strict=True))
        )


@lru_cache(maxsize=256)  # see project_card
def _project_list(same: _SameCards, total: int, words: tuple[str, ...]) -> Message:
    cards = same.cards
    query = " ".join(words)
    if not cards:
        if query:
            every = "all of " if len(words) > 1 else ""
            return text_reply(
                f"No projects match {every}“{plain(query, 200)}”. Every word must match the "
                "name, description or a council: try fewer words, or start one: "
                "`/makers start <name>`."
            )
        return text_reply("No projects yet. Start the first: `/makers start <name>`.")
    heading = plural(total, "project") + (f" matching “{plain(query, 200)}”" if query else "")
    lines = [project_line(card) for card in cards]
    if total > len(cards):
        lines.append(f"…and {total - len(cards)} more. Narrow it: `/makers list <words>`.")
    body = "\n".join(lines)
    blocks: list[Block] = [_section(f"*{heading}*")]
    # Sections hold 3000 characters: split the lines across as many as needed.
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 10:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    blocks.append(_context("See one: `/makers info <project>` · Join: `/makers join <project>`"))
    return _message(f"{heading}\n{body}", blocks)


def help_message(usages: Sequence[tuple[str, str]]) -> Message:
    """`/makers help`: one line per subcommand, from the handlers' docstrings."""
    lines = [f"`/makers {usage}` — {summary}" for usage, summary in usages]
    intro = (
        "*makersbot* helps councils build things together. "
        "`<project>` can be a name, a slug or the project's channel."
    )
    return _message(intro + "\n" + "\n".join(lines), [_section(intro), _section("\n".join(lines))])


# How far the bot has checked who someone is, in words (`/makers iam`, the Home tab).
CHECKS = {
    CouncilCheck.CLAIMED: "not verified yet: `/makers vouch` by a verified colleague or an admin",
    CouncilCheck.EMAIL: "verified by your Slack e-mail",
    CouncilCheck.VOUCH: "verified: a colleague vouched",
    CouncilCheck.ADMIN: "verified by an admin",
}
PROOFS = {
    Proof.CLAIMED: "unconfirmed, credited to nobody: prove it with `/makers iam github|trello`",
    Proof.PROVEN: "proven",
    Proof.CONFIRMED: "confirmed by an admin",
}


def identity(who: Identity) -> Message:
    """`/makers iam` with no arguments: what the bot knows about you."""
    council = plain(who.council, 200) if who.council else "not set — `/makers iam council <name>`"
    github = f"`{plain(who.github_login, 100)}`" if who.github_login else "not set"
    trello = f"`{plain(who.trello_username, 100)}`" if who.trello_username else "not set"
    council += f" ({CHECKS[who.council_check]})" if who.council else ""
    github += f" ({PROOFS[who.github_proof]})" if who.github_login else ""
    trello += f" ({PROOFS[who.trello_proof]})" if who.trello_username else ""
    lines = [f"*Council:* {council}", f"*GitHub:* {github}", f"*Trello:* {trello}"]
    if who.projects:
        lines.append("*Projects:* " + ", ".join(plain(p, 200) for p in who.projects))
    return text_reply("\n".join(lines))


def start_modal(*, channel_id: str = "") -> dict[str, object]:
    """The modal `/makers start` opens when no name is given."""
    view = View(
        type="modal",
        callback_id=START_VIEW,
        private_metadata=channel_id,
        title=PlainTextObject(text="Start a project"),
        submit=PlainTextObject(text="Start"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            InputBlock(
                block_id=START_NAME_BLOCK,
                label=PlainTextObject(text="Project name"),
                element=PlainTextInputElement(
                    action_id=START_NAME_INPUT,
                    max_length=80,
                    placeholder=PlainTextObject(text="Bin day reminders"),
                ),
            ),
            InputBlock(
                block_id=START_DESCRIPTION_BLOCK,
                label=PlainTextObject(text="What will it do, and for whom?"),
                optional=True,
                element=PlainTextInputElement(
                    action_id=START_DESCRIPTION_INPUT, multiline=True, max_length=1000
                ),
            ),
        ],
    )
    return view.to_dict()


def home_view(who: Identity, cards: Sequence[ProjectCard]) -> dict[str, object]:
    """The App Home tab: who you are, your projects, and how to start."""
    blocks: list[Block] = [HeaderBlock(text="Makers Project Teams")]
    blocks.append(_section(identity(who).text))
    blocks.append(DividerBlock())
    if cards:
        blocks.append(_section("*Your projects*\n" + "\n".join(project_line(c) for c in cards)))
    else:
        blocks.append(_section("You are not in any project yet. `/makers list` shows them all."))
    blocks.append(_context("Type `/makers help` in any channel for every command."))
    return View(type="home", blocks=blocks[:BLOCK_LIMIT]).to_dict()


def safe_url(url: str) -> str | None:
    """An http(s) URL made safe inside `<url|label>`; None for anything else. URLs come from
    payloads and people: unescaped, `>|<!channel>` in one would close the link and ping."""
    if not url.startswith(("https://", "http://")):
        return None
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
