"""The hub digest as Slack messages: the week's league, newcomers, projects and ideas. Pure.

The main message leads with a one-sentence summary and the council league; every part keeps
its most important lines there and continues in the thread (see `render_digest_parts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from makersbot.domain.digest import (
    GIVE_SOURCES,
    TAKE_SOURCES,
    CouncilTally,
    ForgottenProject,
    GiveBack,
    HubDigest,
    LiveProject,
    LookAlike,
    PhaseChange,
    ProjectRef,
    StaleProject,
)
from makersbot.domain.messages import Message
from makersbot.render import HEADER_LIMIT, PHASE_MARKERS, clip, phase_label, plain
from makersbot.render_digest_parts import (
    Block,
    Part,
    compose,
    count,
    day,
    header,
    link,
    names_list,
    section,
    times,
)

MAIN_LEAGUE = 12
MAIN_LIST = 5
MAIN_NAMES = 12
MAIN_GIVE_BACK = 3
MAIN_STALE = 5

OTHER = "other"
_SOURCE_WORDS = {**GIVE_SOURCES, **TAKE_SOURCES, OTHER: ("other", "other")}


# Lines ----------------------------------------------------------------------------------


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


# The hub digest -------------------------------------------------------------------------


def hub_messages(digest: HubDigest) -> list[Message]:
    """The hub digest: main message first, thread continuations after."""
    period = digest.period
    title = clip(f"Makers digest: the week to {day(period.end)}", HEADER_LIMIT)
    head: list[Block] = [header(title), section(summary(digest))]
    foot = f"{period.key} · the 7 days to {day(period.end)} {period.end.strftime('%H:%M')}"
    if digest.councils:
        foot += " · ▲▼ gives compared with the 7 days before"
    return compose(head, _hub_parts(digest), foot)


def _hub_parts(digest: HubDigest) -> list[Part]:
    """The hub digest's parts, in the order the main message shows them."""
    forgotten = {f.project.id for f in digest.forgotten}
    return [
        Part(
            "Who gave and who took",
            [league_line(t) for t in digest.councils],
            MAIN_LEAGUE,
            more="councils in the thread",
        ),
        _first_time_part(digest),
        Part("New projects", [_new_line(p) for p in digest.new_projects], MAIN_LIST),
        Part(
            "New projects that look like existing ones",
            [_look_alike_line(a) for a in digest.look_alikes],
            MAIN_LIST,
            intro="Could these councils join forces instead of building the same thing twice?",
        ),
        Part("Reached Live", [_live_line(p) for p in digest.live], MAIN_LIST),
        Part("Changed phase", [_phase_line(c) for c in digest.phase_changes], MAIN_LIST),
        Part(
            "Small ways to give back",
            [_give_back_line(g) for g in digest.give_back],
            MAIN_GIVE_BACK,
            intro="Thank you for reusing what others made! If you would like to give "
            "something back, these are open and welcome help:",
        ),
        Part(
            "Quiet for four weeks",
            # The forgotten have their own part below: listed once.
            [_stale_line(s) for s in digest.stale if s.project.id not in forgotten],
            MAIN_STALE,
            intro="Is there news? Leads: a `/makers status` line helps others find and join, "
            "or `/makers phase <project> retired` if it has ended.",
        ),
        Part(
            "Forgotten: nothing for eight weeks",
            [_forgotten_line(f) for f in digest.forgotten],
            MAIN_STALE,
            intro="Their leads have been asked, once, to post a status or retire them. "
            "Anyone can help: ask in the channel, or pick one up.",
        ),
    ]


def _first_time_part(digest: HubDigest) -> Part:
    """First-time givers: a few names in the main message, the rest in the thread."""
    return Part(
        "First-time givers",
        (
            [names_list([plain(n, 60) for n in digest.first_time[:MAIN_NAMES]])]
            + [plain(n, 60) for n in digest.first_time[MAIN_NAMES:]]
            if digest.first_time
            else []
        ),
        1,
        intro="👋 A warm welcome, and thank you:" if digest.first_time else "",
    )


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


def _look_alike_line(look_alike: LookAlike) -> str:
    like = names_list([project_name(p) for p in look_alike.like])
    return f"• {project_name(look_alike.project)} looks like {like}"


def _forgotten_line(forgotten: ForgottenProject) -> str:
    leads = ", ".join(f"<@{u}>" for u in forgotten.lead_user_ids if u.isalnum())
    since = f"last activity {day(forgotten.last_activity)}"
    return f"• {project_name(forgotten.project)} · {since} · " + (
        leads or "no lead: anyone can pick it up"
    )


def _stale_line(stale: StaleProject) -> str:
    leads = ", ".join(f"<@{u}>" for u in stale.lead_user_ids if u.isalnum())
    return f"• {project_name(stale.project)} · " + (leads or "no lead: anyone can pick it up")


# For the terminal -----------------------------------------------------------------------


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
            for element in block.get("elements") or []:
                if isinstance(element, dict):
                    out.append(str(element.get("text", "")))
    return "\n".join(out).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
