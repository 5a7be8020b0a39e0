"""A fake Slack Web API server for tests.

``FakeSlack`` is a real HTTP server on 127.0.0.1 that speaks enough of the Slack
Web API (response shapes and ``ok: false`` error codes as Slack uses them) for the
bot's ``slack_sdk.WebClient`` to run against it unchanged: point ``SLACK_API_URL``
at ``fake.base_url``. Every request is recorded as a :class:`Call`; a small world
(channels, messages, pins, users, views, files) is kept so multi-step flows work:
``slack_world.py`` holds that world and ``slack_methods.py`` the methods that change it.

Typical use::

    with FakeSlack() as fake:
        channel_id = fake.add_channel("general")
        ...  # run the bot with SLACK_API_URL=fake.base_url
        [call] = fake.wait_for_calls("chat.postMessage", 1)
        assert call.args["channel"] == channel_id
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from tests.fakes._serving import ServedInThread
from tests.fakes.slack_methods import METHODS, SlackMethods
from tests.fakes.slack_world import Args, SlackError, flag

# Form fields whose values slack_sdk (and Slack clients generally) send as JSON strings.
_JSON_FIELDS = frozenset(
    {"blocks", "attachments", "metadata", "view", "files", "user_auth_blocks", "unfurls"}
)
_DEFAULT_5XX_ERRORS = {500: "internal_error", 503: "service_unavailable"}


@dataclass(frozen=True)
class Call:
    """One recorded HTTP request to the fake.

    ``method`` is the Web API method (``"chat.postMessage"``), ``"response_url"`` or
    ``"file_upload"``. Header names are lower-cased. ``failed`` is true when the call
    was answered by :meth:`FakeSlack.fail_next` instead of the fake's normal logic.
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    failed: bool = False
    path: str = ""
    body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: int | None
    error: str | None


class _Reply(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]


def _json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
    body = json.dumps(payload).encode("utf-8")
    return _Reply(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def _text_reply(text: str, status: int = 200) -> _Reply:
    return _Reply(status, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})


def _parse_args(query: str, body: bytes, content_type: str) -> Args:
    """Merge query string, form body and JSON body; decode JSON-valued form fields."""
    args: Args = dict(parse_qsl(query, keep_blank_values=True))
    if body and content_type.startswith("application/json"):
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            args.update(decoded)
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for key in _JSON_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass  # left as sent; Slack would answer invalid_blocks & co.
    return args


# ---------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops concurrent connects (1 s SYN retry)

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.fake = fake


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = self.server.fake._serve(self.path, headers, body)
        except Exception as exc:  # a bug in the fake: make it visible to the client
            reply = _json_reply({"ok": False, "error": "fatal_error", "fake_bug": repr(exc)}, 500)
        self.send_response(reply.status)
        for name, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# ---------------------------------------------------------------------------
# The fake


class FakeSlack(SlackMethods, ServedInThread):
    """Fake Slack Web API on a free 127.0.0.1 port; see the module docstring.

    ``known_channels`` are channel ids that ``chat.*`` methods accept without the
    channel being created in the world (they are not listed by ``conversations.*``).
    ``chat_write_public`` mirrors the ``chat:write.public`` scope: when false, posting
    to a public channel the bot is not a member of answers ``not_in_channel``.
    """

    def __init__(self, known_channels: Iterable[str] = (), chat_write_public: bool = True) -> None:
        super().__init__(known_channels, chat_write_public)
        self._calls: list[Call] = []
        self._failures: dict[str, deque[_Failure]] = {}
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Web API base URL, e.g. ``http://127.0.0.1:PORT/api/`` (``SLACK_API_URL``)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A Slack-style ``response_url``; posts to it are recorded as ``"response_url"``."""
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    # -- recorded calls ----------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls in arrival order, optionally only those of ``method``."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget recorded calls (the world state is kept)."""
        with self._lock:
            self._calls.clear()

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate(self)`` every 10 ms until true (-> True) or ``timeout`` (-> False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def wait_for_calls(self, method: str, count: int, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called ``count`` times; return those calls.

        Raises AssertionError listing the methods actually recorded on timeout.
        """
        if not self.wait_for(lambda fake: len(fake.calls(method)) >= count, timeout):
            seen = [c.method for c in self.calls()]
            raise AssertionError(
                f"expected {count} {method!r} call(s) within {timeout}s, "
                f"got {len(self.calls(method))}; recorded: {seen}"
            )
        return self.calls(method)

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (they are still recorded).

        429 answers carry ``Retry-After: retry_after``; other statuses answer a JSON
        ``{"ok": false, "error": ...}`` body. With ``status=200`` an ``error`` code is
        required and the answer is a normal Slack API error.
        """
        if status == 200 and error is None:
            raise ValueError("fail_next(status=200) needs an error code")
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure(status, retry_after, error) for _ in range(times))

    # -- request handling --------------------------------------------------

    def _serve(self, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Record one request and answer it (called from the server threads)."""
        url = urlsplit(raw_path)
        kind, _, name = url.path.lstrip("/").partition("/")
        method = {"api": name, "respond": "response_url", "upload": "file_upload"}.get(kind)
        if method is None or not name:
            return _text_reply("not found", 404)
        parse_error = None
        try:
            if kind == "upload":
                args: Args = {"length": len(body)}
            else:
                args = _parse_args(url.query, body, headers.get("content-type", ""))
        except ValueError:  # undecodable body: Slack's API answers invalid_json
            args, parse_error = {}, ("invalid_json" if kind == "api" else None)
        return self._record_and_reply(method, args, headers, body, url.path, parse_error)

    def _record_and_reply(
        self,
        method: str,
        args: Args,
        headers: dict[str, str],
        body: bytes,
        path: str,
        parse_error: str | None,
    ) -> _Reply:
        with self._lock:
            queue = self._failures.get(method)
            failure = queue.popleft() if queue else None
            self._calls.append(
                Call(method, args, headers, time.time(), failure is not None, path, body)
            )
            if failure is not None:
                return self._failure_reply(failure)
            if parse_error is not None:
                return _json_reply({"ok": False, "error": parse_error})
            if method == "response_url":
                return self._respond(args)
            if method == "file_upload":
                return self._upload(path.rsplit("/", 1)[-1], body)
            return self._call_api(method, args, headers)

    @staticmethod
    def _failure_reply(failure: _Failure) -> _Reply:
        if failure.status == 429:
            retry = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            return _json_reply({"ok": False, "error": failure.error or "ratelimited"}, 429, retry)
        error = failure.error or _DEFAULT_5XX_ERRORS.get(failure.status, "fatal_error")
        return _json_reply({"ok": False, "error": error}, failure.status)

    def _call_api(self, method: str, args: Args, headers: dict[str, str]) -> _Reply:
        impl = METHODS.get(method)
        if impl is None:
            return _json_reply({"ok": False, "error": "unknown_method"})
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not (token or args.get("token")):
            return _json_reply({"ok": False, "error": "not_authed"})
        try:
            return _json_reply({"ok": True, **impl(self, args)})
        except SlackError as exc:
            return _json_reply({"ok": False, "error": exc.code, **exc.extra})

    @staticmethod
    def _respond(args: Args) -> _Reply:
        """Slack's response_url: JSON body with text/blocks/response_type/replace_original."""
        if not args:
            return _text_reply("invalid_payload", 400)
        if not (args.get("text") or args.get("blocks") or args.get("attachments")) and not flag(
            args.get("delete_original")
        ):
            return _text_reply("no_text", 400)
        return _json_reply({"ok": True})

    def _upload(self, file_id: str, body: bytes) -> _Reply:
        """The upload URL handed out by files.getUploadURLExternal."""
        record = self._files.get(file_id)
        if record is None:
            return _text_reply("not found", 404)
        record["content"] = body
        return _text_reply(f"OK - {len(body)}")

    def _upload_url(self, file_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/upload/{file_id}"


def fake_slack() -> Iterator[FakeSlack]:
    """Body of a pytest fixture: ``fake_slack = pytest.fixture(fake_slack)`` in conftest."""
    with FakeSlack() as fake:
        yield fake
