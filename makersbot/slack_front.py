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

from typing import TYPE_CHECKING

from makersbot.fronts import Answer, Headers, ThreadedRoute, guarded

if TYPE_CHECKING:
    from makersbot.server import ASGIApp
    from makersbot.slack_requests import SlackEndpoint

SLACK_PATH = "/slack/events"


class SlackFront(ThreadedRoute[str]):
    """`POST /slack/events` goes to `endpoint` in a thread of `threads`; the rest to `app`."""

    thread_name = "slack"

    def __init__(self, app: ASGIApp, endpoint: SlackEndpoint, *, threads: int) -> None:
        super().__init__(app, threads=threads)
        self.endpoint = endpoint

    def route(self, path: str) -> str | None:
        return path if path == SLACK_PATH else None

    def answer(self, route: str, headers: dict[str, str], query: str, body: bytes) -> Answer:
        """Bolt's response, sent as Bolt's Flask adapter sends it."""

        def handle() -> Answer:
            response = self.endpoint.handle(headers, query, body)
            data = response.body.encode("utf-8")
            answer: Headers = [
                (name.encode("latin-1"), str(value).encode("latin-1"))
                for name, values in response.headers.items()
                for value in values
            ]
            answer.append((b"content-length", str(len(data)).encode()))
            return response.status, answer, data

        return guarded(SLACK_PATH, handle)
