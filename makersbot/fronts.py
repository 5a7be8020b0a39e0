"""What the two fronts share (`slack_front.py`, `webhook_front.py`): a route taken from the
server's event loop to the bot in one thread hand-over, skipping a2wsgi and Flask.

Each front says which requests are its own (`route`) and how the bot answers them
(`answer`, in a thread); anything else goes to the WSGI app behind it. When the bot fails,
`guarded` answers as the Flask app's error handler does (`web._unexpected`): 503 with
Retry-After when the database failed, so the sender tries again; 400 with one line
otherwise; the route, never the body or a link's token, in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Generic, TypeVar

from makersbot.intake import RETRY_AFTER_SECONDS, STORE_FAILURES

if TYPE_CHECKING:
    from makersbot.server import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]  # status, headers, body
R = TypeVar("R")


class ThreadedRoute(Generic[R]):
    """ASGI: POSTs that `route` claims go to `answer` in a thread of `threads`; the rest to
    `app`. Expects a complete body in one message, as `server.BufferedRequests` delivers it.
    """

    thread_name = "front"

    def __init__(self, app: ASGIApp, *, threads: int) -> None:
        self.app = app
        # Threads start on first use, so a front built before gunicorn forks is safe.
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix=self.thread_name)

    def route(self, path: str) -> R | None:
        """What `answer` needs to know from the path, or None: not this front's."""
        raise NotImplementedError

    def answer(self, route: R, headers: dict[str, str], query: str, body: bytes) -> Answer:
        """The whole answer to one request (in a thread of the pool)."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ours = scope["type"] == "http" and scope["method"] == "POST"
        route = self.route(scope["path"]) if ours else None
        if route is None:
            await self.app(scope, receive, send)
            return
        message = await receive()
        body = bytes(message.get("body", b""))
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        status, headers, data = await asyncio.get_running_loop().run_in_executor(
            self.pool, self.answer, route, scope_headers(scope), query, body
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def guarded(path: str, call: Callable[[], Answer]) -> Answer:
    """`call()`, or what the Flask error handler answers when it raises (`path` is logged)."""
    try:
        return call()
    except STORE_FAILURES as error:
        log.warning("database unavailable for POST %s: %s", path, type(error).__name__)
        retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
        return text_answer(503, "database unavailable; try again later", [retry])
    except Exception:
        log.exception("request failed: POST %s", path)
        return text_answer(400, "could not process this request")


def text_answer(status: int, line: str, extra: Sequence[tuple[bytes, bytes]] = ()) -> Answer:
    """One line of plain text, as the Flask routes answer."""
    data = (line + "\n").encode()
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(data)).encode()),
        *extra,
    ]
    return status, headers, data


def scope_headers(scope: Scope) -> dict[str, str]:
    """Lower-case names to values, as WSGI gives them (latin-1; repeats joined by commas)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
