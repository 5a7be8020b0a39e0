"""Look-alike projects: what `/makers start` shows before starting one that may exist already."""

from __future__ import annotations

from dataclasses import dataclass

from makersbot.domain.projects import ProjectCard
from makersbot.domain.requests import UserError

# The *Start mine anyway* button of the look-alike prompt; its value is the held start's token.
# Its *Join that one* buttons are the project card's Join button (JOIN_ACTION).
START_ANYWAY_ACTION = "makers_start_anyway"


@dataclass(frozen=True)
class Similar:
    """An existing project that looks like a new one; `score` is 0-100."""

    card: ProjectCard
    score: float


class LooksLikeExisting(UserError):
    """A start held back: these projects look like it. `token` starts it anyway, once."""

    def __init__(self, name: str, matches: tuple[Similar, ...], token: str) -> None:
        names = ", ".join(f"*{m.card.name}*" for m in matches)
        super().__init__(f"“{name}” looks like {names}. Join one of them, or start yours anyway.")
        self.name = name
        self.matches = matches
        self.token = token
