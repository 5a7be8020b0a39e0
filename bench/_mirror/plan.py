"""The plan: a realistic sequence of deliveries for a layout's items, cut into bursts.

Some items are far busier than others; each delivery is the next change to one item,
planned by its source (`github.GitHubPlanner`, `trello.TrelloPlanner`), which also keeps
the item's expected state. The same layout and seed give the same plan.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import timedelta

from bench._mirror.github import GitHubPlanner
from bench._mirror.layout import BASE_TIME, Delivery, Layout
from bench._mirror.trello import TrelloPlanner


class Planner:
    """Builds a layout's deliveries and tracks each item's expected state.

    Payloads start from the real fixtures in tests/fixtures (octokit's issues, pull_request
    and issue_comment payloads; Zulip's Trello board model) with our own values, and carry
    strictly increasing times per item (`updated_at`, Trello `date`).
    """

    def __init__(self, layout: Layout, rng: random.Random) -> None:
        self.layout = layout
        self.rng = rng
        self.github = GitHubPlanner(rng)
        self.trello = TrelloPlanner(rng, layout.boards)

    def plan(self, count: int) -> list[Delivery]:
        """`count` deliveries; some items are busier than others (weights 1/sqrt(rank))."""
        items = self.layout.items
        weights = [1 / math.sqrt(rank + 1) for rank in range(len(items))]
        self.rng.shuffle(weights)
        plan = []
        for seq in range(count):
            index = self.rng.choices(range(len(items)), weights)[0]
            item = items[index]
            source = self.github if item.source == "github" else self.trello
            plan.append(source.delivery(index, item, seq, BASE_TIME + timedelta(seconds=seq)))
        return plan


def bursts_of(plan: Sequence[Delivery], bursts: int) -> list[list[Delivery]]:
    """The plan cut into `bursts` consecutive slices of (nearly) equal size."""
    size = -(-len(plan) // bursts)
    return [list(plan[b * size : (b + 1) * size]) for b in range(bursts) if plan[b * size :]]
