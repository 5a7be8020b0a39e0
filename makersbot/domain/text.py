"""The input cleaner: what may not be stored of a text that came from a person or a payload.

Stripped from every stored text (`makersbot/store/cleaning.py` applies it to every statement):

- NUL and the other C0 control characters except tab and newline, DEL, and the C1 controls
  (U+0080–U+009F). PostgreSQL refuses NUL in text outright (the statement fails, so a status,
  a `gave` or a delivery carrying one failed for good); the rest forge line breaks, ring
  terminal bells or move cursors in logs and exports. Carriage return goes too: a CRLF becomes
  a LF. Tab and newline stay, because statuses, descriptions, comments and message bodies are
  multi-line; names and titles (`SINGLE_LINE`) turn them into spaces.
- The bidi embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069): one of
  them reverses the display of everything after it, so a name can show as someone else's or
  swallow the text around it (CVE-2021-42574, "Trojan Source"). Plain right-to-left text
  (Arabic, Hebrew) needs none of them: the Unicode bidi algorithm orders it by itself.
- Lone surrogates (U+D800–U+DFFF), which a JSON `\\ud800` escape produces: they cannot be
  encoded as UTF-8, so neither database can store them.

Kept on purpose: the left-to-right and right-to-left marks (U+200E, U+200F) and the Arabic
letter mark (U+061C). They reorder nothing by themselves, only settle where neutral characters
such as brackets go, and people writing right-to-left names use them. Zero-width joiners stay
too: emoji sequences (👩‍💻) are built with them.
"""

from __future__ import annotations

import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n]+")

# Texts shown on one line (names and titles): a newline or tab in them becomes a space.
# "table.column" as in the database.
SINGLE_LINE = frozenset(
    {
        "person.display_name",
        "project.name",
        "mirrored_item.title",
        "link.target_name",
    }
)


def needs_cleaning(text: str) -> bool:
    """True when `clean_text` would change `text` (cheap: one regex search)."""
    return _UNSAFE.search(text) is not None


def clean_text(text: str) -> str:
    """`text` without the characters this module's docstring lists; newline and tab kept."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub("", text)


def clean_line(text: str) -> str:
    """`clean_text`, then every run of newlines and tabs becomes one space."""
    return _LINE_BREAKS.sub(" ", clean_text(text))


def clean_value(value: Any) -> Any:
    """Clean every string inside a JSON-like value (dicts, lists, keys included).

    Returns the same object when nothing needed cleaning, so callers can tell by identity.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        cleaned: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            new_key, new_item = clean_value(key), clean_value(item)
            changed = changed or new_key is not key or new_item is not item
            cleaned[new_key] = new_item
        return cleaned if changed else value
    if isinstance(value, list | tuple):
        items = [clean_value(v) for v in value]
        if all(a is b for a, b in zip(value, items, strict=True)):
            return value
        return type(value)(items)
    return value
