"""`POST /slack/events` taken straight from the server's event loop to the Bolt app.

Slack gives a slash command 3 seconds, and `/makers list` and `info` answer inside the
acknowledgement. Through a2wsgi and Flask, each request cost four hand-overs between the
event loop and a thread (the request, the body, the status line, the answer's body) and a
Flask request context: in-process, 0.96 ms of CPU a request, of which the bot's own work
(signature, parsing, Bolt, the answer) was 0.23 ms. Here the request, already buffered by
`server.BufferedRequests`, goes to `SlackEndpoint.handle` in one thread hand-over and its
answer comes back whole (bench/ack.py; bench/README.md, issue 8's seventh round).

Nothing about the answer changes: `SlackEndpoint` checks signatures on the raw bytes and
hands Bolt the parsed request, as the Flask route of `makersbot/web.py` does, and the Bolt
response is sent as Bolt's Flask adapter sends it. The Flask route stays for every other
server and for the tests' WSGI server; other methods and paths go to the WSGI app. A
failure outside Bolt is answered as the Flask app's error handler answers it: 503 with
Retry-After when the database failed, 400 with one line otherwise, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from makersbot.intake import RETRY_AFTER_SECONDS, STORE_FAILURES
from makersbot.webhook_front import Headers, scope_headers

if TYPE_CHECKING:
    from makersbot.server import ASGIApp, Receive, Scope, Send
    from makersbot.slack_requests import SlackEndpoint

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"


class SlackFront:
    """ASGI: `POST /slack/events` goes to `endpoint` in a thread of `threads`; the rest to `app`.

    Expects a complete body in one message, as `BufferedRequests` delivers it.
    """

    def __init__(self, app: ASGIApp, endpoint: SlackEndpoint, *, threads: int) -> None:
        self.app = app
        self.endpoint = endpoint
        # Threads start on first use, so a front built before gunicorn forks is safe.
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="slack")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != SLACK_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        message = await receive()
        body = bytes(message.get("body", b""))
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        status, headers, data = await asyncio.get_running_loop().run_in_executor(
            self.pool, self._answer, scope_headers(scope), query, body
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _answer(
        self, headers: dict[str, str], query: str, body: bytes
    ) -> tuple[int, Headers, bytes]:
        """Status, headers and body, as the Flask route (and its error handler) give them."""
        try:
            response = self.endpoint.handle(headers, query, body)
        except STORE_FAILURES as error:
            log.warning("database unavailable for POST %s: %s", SLACK_PATH, type(error).__name__)
            retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
            return _text(503, "database unavailable; try again later\n", [retry])
        except Exception:
            log.exception("request failed: POST %s", SLACK_PATH)
            return _text(400, "could not process this request\n", [])
        data = response.body.encode("utf-8")
        answer: Headers = [
            (name.encode("latin-1"), str(value).encode("latin-1"))
            for name, values in response.headers.items()
            for value in values
        ]
        answer.append((b"content-length", str(len(data)).encode()))
        return response.status, answer, data


def _text(status: int, text: str, extra: Headers) -> tuple[int, Headers, bytes]:
    data = text.encode()
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(data)).encode()),
        *extra,
    ]
    return status, headers, data
