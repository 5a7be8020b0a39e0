"""How the HTTP app is served: an asyncio front that reads whole requests, then threads.

Slow or hostile clients must not be able to stop Slack reaching the bot. A thread-per-
connection server (gunicorn's `gthread`, the bot's server until now) hands a connection to
a thread as soon as a byte arrives and the thread then blocks reading the rest: eight
sockets that send half a request line froze `makersbot serve` (8 threads, no read
timeout). Here gunicorn's `asgi` worker reads requests on an event loop, where a waiting
socket costs only memory; `BufferedRequests` waits for the whole body there too (within a
size and time limit); only a complete request takes one of `THREADS` threads, in which
a2wsgi runs the unchanged WSGI app, or, for a Slack request or a webhook delivery, the
Slack endpoint or the delivery service itself (`makersbot/slack_front.py`,
`makersbot/webhook_front.py`). `bench/hostile.py` measures it (README: "Serving and
hostile traffic").

The same settings serve the Procfile's `web:` line (`create_asgi_app()`, one process per
`WEB_CONCURRENCY`) and `makersbot serve` (`gunicorn_options()`, one worker that also runs
the sender and the scheduler).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from makersbot.slack_requests import SlackEndpoint
    from makersbot.webhook_front import Accepts

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# `makersbot serve` listens on every interface (a platform routes $PORT to it); the
# benchmarks and tests set this to 127.0.0.1 before serving.
BIND_HOST = "0.0.0.0"
# Slack, GitHub and Trello bodies are a few KiB; 5 MiB is the web app's own limit too.
MAX_BODY = 5 * 1024 * 1024
# A body that has not arrived after this long is not coming from Slack (3 s deadline).
BODY_SECONDS = 10.0
# Threads per process for complete requests: acks take milliseconds of CPU, so more
# threads would only queue on the GIL; slow work runs after the ack in Bolt's own threads.
THREADS = 8


class BufferedRequests:
    """ASGI middleware: the app sees a request only once its whole body has arrived.

    A body larger than `max_body` gets 413 and one slower than `seconds` gets 408, both
    answered from the event loop without taking a thread.
    """

    def __init__(
        self, app: ASGIApp, *, max_body: int = MAX_BODY, seconds: float = BODY_SECONDS
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.seconds):
                body = await self._read_body(receive)
        except TimeoutError:
            await _answer(send, 408, b"request body too slow\n")
            return
        except _TooLarge:
            await _answer(send, 413, b"request body too large\n")
            return
        except _Gone:
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:  # after the body, ASGI's receive waits for the disconnect
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _TooLarge(Exception):
    """The body passed the limit."""


class _Gone(Exception):
    """The client disconnected before sending its whole body."""


async def _answer(send: Send, status: int, text: bytes) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def asgi(
    wsgi_app: Any,
    *,
    threads: int = THREADS,
    webhooks: Accepts | None = None,
    slack: SlackEndpoint | None = None,
) -> ASGIApp:
    """The WSGI app behind the buffering front, run in `threads` threads by a2wsgi.

    With `webhooks` (the bot's `DeliveryService`), webhook deliveries skip a2wsgi and the
    WSGI app: `makersbot/webhook_front.py` takes them from the event loop to the service.
    With `slack` (the web app's `SlackEndpoint`), so do Slack's requests
    (`makersbot/slack_front.py`).
    """
    from a2wsgi import WSGIMiddleware

    # a2wsgi types ASGI's messages as TypedDicts; this module passes them through as mappings.
    inner = cast(ASGIApp, WSGIMiddleware(wsgi_app, workers=threads))
    if webhooks is not None:
        from makersbot.webhook_front import WebhookFront

        inner = WebhookFront(inner, webhooks, threads=threads)
    if slack is not None:
        from makersbot.slack_front import SlackFront

        inner = SlackFront(inner, slack, threads=threads)
    return BufferedRequests(inner)


def bot_asgi(app: Any) -> ASGIApp:
    """The bot's Flask app (`web.create_web_app`) as served: Slack's requests and webhook
    deliveries from the event loop to the bot, everything else through WSGI."""
    from makersbot.slack_requests import SLACK_ENDPOINT

    return asgi(
        app, webhooks=app.extensions["makersbot"].deliveries, slack=app.extensions[SLACK_ENDPOINT]
    )


def gunicorn_options(port: int, *, log_level: str = "info", **hooks: Any) -> dict[str, Any]:
    """gunicorn settings of `makersbot serve`: the Procfile's `web:` line, one worker."""
    return {
        "bind": f"{BIND_HOST}:{port}",
        "workers": 1,
        "worker_class": "asgi",
        "asgi_lifespan": "off",  # the bot starts its background work in post_worker_init
        "timeout": 30,
        "loglevel": log_level.lower(),
        **hooks,
    }


def create_asgi_app() -> ASGIApp:
    """The ASGI app of the Procfile's `web:` line (`makersbot.server:create_asgi_app()`)."""
    from makersbot.web import create_app

    return bot_asgi(create_app())
