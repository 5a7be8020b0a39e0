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

import asyncio
import logging
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from makersbot.intake import RETRY_AFTER_SECONDS, STORE_FAILURES

if TYPE_CHECKING:
    from makersbot.server import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# (source, link token or None) from the path; anything else goes to the WSGI app.
_ROUTE = re.compile(r"/(?:(github)/webhook|(trello)/webhook(?:/([^/]+))?)")

Headers = list[tuple[bytes, bytes]]


class Accepts(Protocol):
    """What stores a delivery: `DeliveryService.accept` (its answer is status and line)."""

    def accept(
        self, name: str, headers: Mapping[str, str], body: bytes, token: str | None = None
    ) -> tuple[int, str]: ...


class WebhookFront:
    """ASGI: webhook POSTs go to `deliveries.accept` in a thread of `threads`; the rest to `app`.

    Expects a complete body in one message, as `BufferedRequests` delivers it.
    """

    def __init__(self, app: ASGIApp, deliveries: Accepts, *, threads: int) -> None:
        self.app = app
        self.deliveries = deliveries
        # Threads start on first use, so a front built before gunicorn forks is safe.
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="webhook")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _ROUTE.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        message = await receive()
        body = bytes(message.get("body", b""))
        source, token = route.group(1) or route.group(2), route.group(3)
        status, text, extra = await asyncio.get_running_loop().run_in_executor(
            self.pool, self._answer, source, scope_headers(scope), body, token
        )
        data = (text + "\n").encode()
        headers: Headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _answer(
        self, source: str, headers: dict[str, str], body: bytes, token: str | None
    ) -> tuple[int, str, Headers]:
        """Status, line and extra headers, as the Flask route and its error handler give."""
        # The route, not the path: a link's callback token is not for the log.
        path = f"/{source}/webhook" + ("/<token>" if token is not None else "")
        try:
            status, text = self.deliveries.accept(source, headers, body, token)
        except STORE_FAILURES as error:
            log.warning("database unavailable for POST %s: %s", path, type(error).__name__)
            retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
            return 503, "database unavailable; try again later", [retry]
        except Exception:
            log.exception("request failed: POST %s", path)
            return 400, "could not process this request", []
        return status, text, []


def scope_headers(scope: Scope) -> dict[str, str]:
    """Lower-case names to values, as WSGI gives them (latin-1; repeats joined by commas)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
