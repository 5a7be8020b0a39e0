"""What the hub and project digests share: words (counts, dates, links) and the packing of a
digest's parts into Slack messages. Pure.

A digest of any size fits Slack: the main message keeps the most important lines of each part
and says how many more follow; the rest continues in thread replies, packed under Slack's
limits (50 blocks, 3000 characters per section, `text` ≤ 4000) and under the cumulative block
text Slack accepts per message (about 12,000 characters, undocumented: slackapi/bolt-js#2509),
never by failing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from makersbot.domain.messages import Message
from makersbot.render import BLOCK_LIMIT, SECTION_LIMIT, TEXT_LIMIT, clip, plain, safe_url

# What a message's blocks may hold in all: below the ~12,000 characters Slack accepts.
MESSAGE_BUDGET = 10_000
LINE_LIMIT = 600  # one line of a list; keeps every section packable


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
    return f"{moment.day} {_month(moment.year, moment.month)}"


@functools.lru_cache(maxsize=256)
def _month(year: int, month: int) -> str:
    """ "Nov 2026": asked thousands of times a run (every project digest's period), and
    strftime is slow. Keyed by the local year and month, never by the moment itself: equal
    moments in two zones can fall on different dates."""
    return date(year, month, 1).strftime("%b %Y")


def link(url: str, label: str) -> str:
    """A mrkdwn link to an http(s) URL; just the (escaped) label otherwise."""
    text = plain(label, 150)
    safe = safe_url(url)
    return f"<{safe}|{text}>" if safe else text


# Packing --------------------------------------------------------------------------------


@dataclass
class Part:
    """One part of a digest: a title and its lines, the first `keep` in the main message."""

    title: str
    lines: list[str]
    keep: int
    intro: str = ""
    more: str = "in the thread"


# Blocks are the dicts Slack takes, built directly: `slack_sdk`'s block classes validate and
# serialise each one again (a quarter of a second for a week's 4,000 project digests). The
# keys, their order and the dropped empty text are what their `to_dict()` gives.
Block = dict[str, Any]


def _mrkdwn(text: str) -> dict[str, str]:
    return {"text": text, "type": "mrkdwn"} if text else {"type": "mrkdwn"}


def section(text: str) -> Block:
    return {"text": _mrkdwn(clip(text, SECTION_LIMIT)), "type": "section"}


def header(text: str) -> Block:
    """A header block; `text` is never empty (Slack refuses one)."""
    return {"text": {"emoji": True, "text": text, "type": "plain_text"}, "type": "header"}


def context(text: str) -> Block:
    return {"elements": [_mrkdwn(clip(text, SECTION_LIMIT))], "type": "context"}


def _sections(title: str, lines: Sequence[str]) -> list[Block]:
    """Lines packed into as few sections as fit 3000 characters, the title on the first."""
    blocks: list[Block] = []
    chunk = [title] if title else []
    size = sum(len(x) + 1 for x in chunk)  # what the chunk's lines take, one newline each
    for line in lines:
        line = clip(line, LINE_LIMIT)
        if chunk and size + len(line) > SECTION_LIMIT - 50:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def _block_text(block: Block) -> str:
    text = block.get("text")
    if text is not None:
        return str(text.get("text", ""))
    return "\n".join(str(e.get("text", "")) for e in block.get("elements") or [])


def _size(blocks: Sequence[Block]) -> int:
    return sum(len(_block_text(b)) for b in blocks)


def _message(blocks: Sequence[Block], text: str | None = None) -> Message:
    fallback = text if text is not None else "\n".join(_block_text(b) for b in blocks)
    return Message(text=clip(fallback, TEXT_LIMIT), blocks=list(blocks))


def _messages(blocks: Sequence[Block]) -> list[Message]:
    """Blocks spread over as many messages as Slack's per-message limits need."""
    messages: list[Message] = []
    current: list[Block] = []
    size = 0  # _size(current), kept as blocks are added
    for block in blocks:
        block_size = len(_block_text(block))
        if current and (len(current) >= BLOCK_LIMIT or size + block_size > MESSAGE_BUDGET):
            messages.append(_message(current))
            current, size = [], 0
        current.append(block)
        size += block_size
    if current:
        messages.append(_message(current))
    return messages


def compose(head: list[Block], parts: Sequence[Part], foot: str) -> list[Message]:
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
            main.append(section(f"*{part.title}*: {count(len(part.lines), 'line')} in the thread."))
            rest = part.lines
        else:
            main.extend(blocks)
        if rest:
            thread.extend(_sections(f"*{part.title}* (continued)", rest))
    if thread:
        foot += " · Detail continues in the thread."
    main.append(context(foot))
    head_text = "\n".join(_block_text(b) for b in main[:2])
    return [_message(main, head_text)] + _messages(thread)
