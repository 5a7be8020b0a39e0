"""Slack messages as a terminal shows them: mrkdwn and Block Kit turned into plain text.

Used by the offline console for everything the bot says, and by `makersbot digest
--preview`. Pure functions: text in, text out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Any

from makersbot.domain.messages import Message

Names = Callable[[str], str]

# Slack's names for the emoji people type most; anything else keeps its :code:.
EMOJI = {
    "tada": "🎉",
    "wave": "👋",
    "raised_hands": "🙌",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "rocket": "🚀",
    "bulb": "💡",
    "eyes": "👀",
    "thumbsup": "👍",
    "+1": "👍",
    "thumbsdown": "👎",
    "-1": "👎",
    "heart": "❤️",
    "smile": "😄",
    "slightly_smiling_face": "🙂",
    "pray": "🙏",
    "fire": "🔥",
    "star": "⭐",
    "sparkles": "✨",
    "memo": "📝",
    "package": "📦",
    "calendar": "📅",
    "hourglass_flowing_sand": "⏳",
    "speech_balloon": "💬",
    "label": "🏷️",
    "bust_in_silhouette": "👤",
    "large_green_circle": "🟢",
    "large_purple_circle": "🟣",
    "white_circle": "⚪",
}

_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LABELLED_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)>")
# *bold* and _italic_ as Slack reads them: at word edges, not inside words or paths.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")


def _no_name(any_id: str) -> str:
    return any_id


def readable(text: str, names: Names = _no_name, *, urls: bool = True) -> str:
    """Slack mrkdwn as plain words: mentions by name, `<url|label>` as "label (url)" (or just
    the label with `urls=False`), dates by their fallback, no *bold* or _italic_ markers,
    emoji codes as emoji and `&lt;` `&gt;` `&amp;` as the characters they stand for."""
    text = _DATE.sub(r"\1", text)
    text = _SPECIAL.sub(r"@\1", text)
    text = _CHANNEL.sub(lambda m: "#" + (m[2] or names(m[1])), text)
    text = _USER.sub(lambda m: "@" + names(m[1]), text)
    if urls:
        text = _LABELLED_LINK.sub(
            lambda m: m[2] if m[2] == m[1] else f"{m[2]} ({m[1].removeprefix('mailto:')})", text
        )
    else:
        text = _LABELLED_LINK.sub(r"\2", text)
    text = _BARE_LINK.sub(lambda m: m[1].removeprefix("mailto:"), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    text = _STRIKE.sub(r"\1", text)
    text = _EMOJI_CODE.sub(lambda m: EMOJI.get(m[1], m[0]), text)
    # Entities last: an escaped "&lt;@U1&gt;" typed by someone must stay text, not a mention.
    return html.unescape(text)


def _element_text(element: dict[str, Any]) -> str:
    text = element.get("text", "")
    return str(text.get("text", "")) if isinstance(text, dict) else str(text)


def blocks_as_text(
    blocks: Sequence[dict[str, Any]] | None,
    fallback: str,
    names: Names = _no_name,
    *,
    urls: bool = True,
) -> str:
    """Block Kit for a terminal: headers, sections, fields, context lines and buttons."""
    if not blocks:
        return readable(fallback, names, urls=urls)
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_element_text(block)} ==")
        elif kind == "section":
            if block.get("text"):
                lines.append(readable(_element_text(block), names, urls=urls))
            for field in block.get("fields") or []:
                lines.append(readable(_element_text(field), names, urls=urls))
        elif kind == "context":
            parts = [readable(_element_text(e), names, urls=urls) for e in block["elements"]]
            lines.append("  " + " ".join(parts))
        elif kind == "actions":
            lines.append("  " + "  ".join(f"[ {_element_text(e)} ]" for e in block["elements"]))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "input":
            lines.append(f"[ {_element_text({'text': block.get('label')})} ]")
    return "\n".join(lines)


def messages_as_text(messages: Sequence[Message], names: Names = _no_name) -> str:
    """A digest (main message, then thread replies) as readable text, for the terminal."""
    out: list[str] = []
    for n, message in enumerate(messages):
        if n:
            out.append(f"\n── in the thread ({n}/{len(messages) - 1}) ──")
        out.append(blocks_as_text(message.blocks, message.text, names))
    return "\n".join(out)


def indent(text: str, prefix: str = "  ") -> str:
    """Every line of `text` indented, so the bot's words stand apart from the prompts."""
    return "\n".join(prefix + line for line in text.splitlines())
