"""What a link mirrors: the filters typed after `/makers link`, in words, and applied.

`labels:a,b exclude:c bots:on lists:"In progress,Done" threads:off` becomes a filters dict
stored on the link; `wanted` decides with it which items the link shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.changes import ItemState
from makersbot.domain.requests import UserError
from makersbot.render import plain

LINK_USAGE = (
    "`/makers link <project> github <owner/repo> [labels:a,b] [exclude:c] [bots:on] "
    "[threads:off]` or `/makers link <project> trello <board url> [lists:Doing,Done] "
    "[threads:off]`"
)


def parse_filters(words: list[str], source: str) -> dict[str, Any]:
    """`labels:a,b exclude:c bots:on lists:"In progress,Done" threads:off` → a filters dict."""
    filters: dict[str, Any] = {"threads": True, "bots": False}
    for word in words:
        name, sep, value = word.partition(":")
        values = [v.strip() for v in value.split(",") if v.strip()]
        name = name.lower()
        if not sep or not value:
            raise UserError(f"I don't understand the filter “{plain(word, 60)}”. {LINK_USAGE}")
        if name in ("labels", "label"):
            filters["labels"] = values
        elif name in ("exclude", "-labels", "exclude-labels"):
            filters["exclude_labels"] = values
        elif name == "bots":
            filters["bots"] = value.lower() in ("on", "yes", "true", "include")
        elif name == "threads":
            filters["threads"] = value.lower() not in ("off", "no", "false")
        elif name == "lists" and source == "trello":
            filters["lists"] = values
        else:
            raise UserError(f"Unknown filter “{plain(name, 30)}”. {LINK_USAGE}")
    return filters


def describe_filters(filters: Mapping[str, Any]) -> str:
    """The filters in words, for replies and `/makers links`."""
    parts = []
    if filters.get("labels"):
        parts.append("only labels " + ", ".join(filters["labels"]))
    if filters.get("exclude_labels"):
        parts.append("not labels " + ", ".join(filters["exclude_labels"]))
    if filters.get("lists"):
        parts.append("lists " + ", ".join(filters["lists"]))
    parts.append("bots included" if filters.get("bots") else "bots left out")
    if not filters.get("threads", True):
        parts.append("no thread replies")
    return "; ".join(parts)


def wanted(filters: Mapping[str, Any], item: ItemState) -> bool:
    """Whether a link with these filters shows a new item: bots, labels to include or
    exclude, Trello lists to watch."""
    if item.author_is_bot and not filters.get("bots", False):
        return False
    labels = {label.lower() for label in item.labels}
    include = {label.lower() for label in filters.get("labels", [])}
    exclude = {label.lower() for label in filters.get("exclude_labels", [])}
    if include and not labels & include:
        return False
    if labels & exclude:
        return False
    lists = {name.lower() for name in filters.get("lists", [])}
    return not (lists and item.source == "trello" and item.state.lower() not in lists)
