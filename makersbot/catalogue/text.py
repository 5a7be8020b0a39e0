"""Turn text people typed in Slack into text fit for a public page.

Descriptions and status lines are the project's own words and are shown, but Slack markup
in them can carry people: `<@U123|alice>` names a person, and an e-mail address is one. Those
are replaced; channel and link markup becomes its plain label. The templates escape what is
left (Jinja2 autoescape), so nothing here needs to be HTML-safe.
"""

from __future__ import annotations

import re

_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(?:channel|here|everyone)(?:\|[^>]*)?>|<!subteam\^[^>]*>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+(?:\|(?P<name>[^>]*))?>")
_MAILTO = re.compile(r"<mailto:[^>|]*(?:\|[^>]*)?>")
_LINK = re.compile(r"<(?P<url>https?://[^>|]+)(?:\|(?P<label>[^>]*))?>")
_SPACES = re.compile(r"[ \t]{2,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

MEMBER = "a member"
EMAIL = "(e-mail address removed)"


def public_text(text: str) -> str:
    """`text` with people's mentions and e-mail addresses replaced, Slack markup unwrapped."""
    text = _USER.sub(MEMBER, text)
    text = _SPECIAL.sub("", text)
    text = _MAILTO.sub(EMAIL, text)
    text = _CHANNEL.sub(lambda m: f"#{m['name']}" if m["name"] else "a channel", text)
    text = _LINK.sub(lambda m: m["label"] or m["url"], text)
    text = _EMAIL.sub(EMAIL, text)
    # Slack escapes these three in everything it sends; the page escapes them again itself.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _SPACES.sub(" ", text).strip()  # what a removed mention leaves behind
