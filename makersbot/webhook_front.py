"""Webhook deliveries taken straight from the server's event loop, without WSGI or Flask.

`POST /github/webhook`, `/trello/webhook` and `/trello/webhook/<token>` are most of the
bot's traffic: GitHub and Trello send one request per change, in bursts. Through a2wsgi and
Flask, each cost four hand-overs between the event loop and a thread (the request, the
body, the status line, the body of the answer) and a Flask request context: the web line
spent 1.1 ms of CPU per delivery against the bare HMAC floor's 0.6 ms, and accepted 0.39-0.55x
the floor's deliveries/s on the Procfile topology (bench/mirror.py --topology procfile).
Here the whole request, already buffered by `server.BufferedRequests`, goes to
`DeliveryService.accept` in one thread hand-over and comes back as one answer: 0.6 ms, and
0.58-0.84x the floor (bench/README.md, issue 8's sixth round).

The same `accept` serves the Flask routes of `makersbot/web.py`, which stay for every other
method on these paths (Trello's HEAD check) and for any WSGI server; this module only
moves the HTTP plumbing, and answers exactly as those routes do: the service's status and
line, 503 with Retry-After when the database failed (the sender tries again), 400 with one
line for anything unexpected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from makersbot.fronts import Answer, ThreadedRoute, guarded, text_answer

if TYPE_CHECKING:
    from makersbot.server import ASGIApp

# (source, link token or None) from the path; anything else goes to the WSGI app.
_ROUTE = re.compile(r"/(?:(github)/webhook|(trello)/webhook(?:/([^/]+))?)")


class Accepts(Protocol):
    """What stores a delivery: `DeliveryService.accept` (its answer is status and line)."""

    def accept(
        self, name: str, headers: Mapping[str, str], body: bytes, token: str | None = None
    ) -> tuple[int, str]: ...


class WebhookFront(ThreadedRoute[tuple[str, str | None]]):
    """Webhook POSTs go to `deliveries.accept` in a thread of `threads`; the rest to `app`."""

    thread_name = "webhook"

    def __init__(self, app: ASGIApp, deliveries: Accepts, *, threads: int) -> None:
        super().__init__(app, threads=threads)
        self.deliveries = deliveries

    def route(self, path: str) -> tuple[str, str | None] | None:
        """(source, link token or None)."""
        found = _ROUTE.fullmatch(path)
        return None if found is None else (found.group(1) or found.group(2), found.group(3))

    def answer(
        self, route: tuple[str, str | None], headers: dict[str, str], query: str, body: bytes
    ) -> Answer:
        """The service's status and line, as the Flask route gives them."""
        source, token = route
        # The route, not the path: a link's callback token is not for the log.
        path = f"/{source}/webhook" + ("/<token>" if token is not None else "")

        def accept() -> Answer:
            return text_answer(*self.deliveries.accept(source, headers, body, token))

        return guarded(path, accept)
