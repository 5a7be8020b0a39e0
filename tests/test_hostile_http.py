"""Hostile and odd HTTP clients: malformed signatures, the Bolt `payload` bug, a database
that is down during intake, and slow sockets against the real servers (`makersbot serve`
and the Procfile's `web:` line) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from makersbot.app import build
from tests.conftest import SIGNING_SECRET, Server, make_settings, serving
from tests.fakes.signing import github_headers, slack_headers, slash_command_body
from tests.fakes.slack import FakeSlack
from tests.mirror_helpers import (
    GITHUB_SECRET,
    PUBLIC_URL,
    TRELLO_SECRET,
    fixture,
    issue_event,
    trello_delivery,
)

ROOT = Path(__file__).resolve().parent.parent
MARKER = "BODY-MARKER-7f3a"
# An unsigned body that, were it logged, would forge a line and carry a marker.
HOSTILE_BODY = f"command=%2Fmakers&text={MARKER}\n2026-11-26 ERROR makersbot: forged line"


def capture_all(caplog: pytest.LogCaptureFixture) -> None:
    """Every record at every level. Bolt's App(name="makersbot") copies the root logger's
    level onto the `makersbot` logger when it is built, so that one is set too."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="makersbot")


def signed(timestamp: str, body: bytes) -> str:
    """A correct signature for any timestamp string, even one Slack would never send."""
    base = b"v0:" + timestamp.encode("latin-1") + b":" + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


def malformed_requests() -> dict[str, tuple[bytes, dict[str, str | bytes]]]:
    """Each case: the body and the headers of a request that must get 401."""
    body = HOSTILE_BODY.encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    now = str(int(time.time()))
    return {
        "non-numeric timestamp": (
            body,
            {**form, "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": signed("abc", body)},
        ),
        "empty timestamp": (
            body,
            {**form, "X-Slack-Request-Timestamp": "", "X-Slack-Signature": signed("", body)},
        ),
        "float timestamp": (
            body,
            {
                **form,
                "X-Slack-Request-Timestamp": f"{now}.5",
                "X-Slack-Signature": signed(f"{now}.5", body),
            },
        ),
        "5,000-digit timestamp": (
            body,
            {
                **form,
                "X-Slack-Request-Timestamp": "9" * 5000,
                "X-Slack-Signature": signed("9" * 5000, body),
            },
        ),
        "non-ASCII signature": (
            body,
            {
                **form,
                "X-Slack-Request-Timestamp": now,
                "X-Slack-Signature": "v0=é".encode() + b"0" * 62,
            },
        ),
        "non-hex signature": (
            body,
            {**form, "X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "z" * 64},
        ),
        "missing timestamp": (body, {**form, "X-Slack-Signature": signed(now, body)}),
        "unsigned JSON": (
            b'{"type": "event_callback", "note": "' + MARKER.encode() + b'\\n"',
            {"Content-Type": "application/json"},
        ),
        "unsigned non-form text": (
            f"<xml>{MARKER}\n</xml>".encode(),
            {"Content-Type": "text/xml"},
        ),
        "unsigned binary": (
            b"\xff\xfe\x00" + MARKER.encode() + b"\n\x1b[2K",
            {"Content-Type": "application/octet-stream"},
        ),
        "JSON-looking form": (
            b"{" + MARKER.encode() + b"\n",
            {**form, "X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64},
        ),
    }


MALFORMED = malformed_requests()


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_or_unsigned_slack_requests_get_401_and_one_short_line(
    server: Server, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, headers = MALFORMED[case]
    capture_all(caplog)
    response = server.http.post(server.url + "/slack/events", data=body, headers=headers)
    assert response.status_code == 401, response.text
    # Every record of the server side, less the test's HTTP client and server.
    ours = [r for r in caplog.records if not r.name.startswith(("werkzeug", "urllib3"))]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    line = ours[0].getMessage()
    assert line.startswith("refused a Slack request: ") and len(line) < 120
    assert f"{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}" in line
    assert ours[0].exc_info is None
    assert not any(MARKER in r.getMessage() for r in caplog.records)
    assert fake_slack.calls() == []


def test_bolt_never_logs_a_rejected_body(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """Bolt's RequestVerification logged the whole body of every rejected request."""
    capture_all(caplog)
    caplog.set_level(logging.DEBUG, logger="slack_bolt.RequestVerification")
    body = HOSTILE_BODY.encode()
    headers = slack_headers("not-the-secret", body)
    assert server.post("/slack/events", body, headers).status_code == 401
    assert not [r for r in caplog.records if r.name.startswith("slack_bolt")]
    assert not any(MARKER in r.getMessage() for r in caplog.records)


def test_signed_but_unusable_bodies_get_400_without_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all(caplog)
    for body, content_type in [
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"text=\xff\xfe", "application/x-www-form-urlencoded"),
    ]:
        headers = slack_headers(SIGNING_SECRET, body, content_type=content_type)
        response = server.post("/slack/events", body, headers)
        assert response.status_code == 400, (body, response.status_code)
    assert not any(r.exc_info for r in caplog.records)


def test_bolt_payload_substring_bug_is_worked_around(server: Server, fake_slack: FakeSlack) -> None:
    """Bolt's body parser takes any form containing `payload` for an interactivity payload:
    these commands got 404 and reached no listener."""
    listing = server.slash("list payload")
    assert listing.status_code == 200 and "No projects match" in listing.json()["text"]
    fake_slack.add_user("U0PAY", "payload.bot")
    started = server.slash(
        "start Payload tracker", user_id="U0PAY", user_name="payload.bot", channel_id="C0PAYLOAD"
    )
    assert started.status_code == 200
    fake_slack.wait_for_calls("pins.add", 1)
    assert fake_slack.channel_by_name("makers-payload-tracker") is not None
    info = server.slash("info #makers-payload-tracker")
    assert info.json()["blocks"][0]["text"]["text"] == "Payload tracker"


# A database that is down during intake ----------------------------------------------------


@pytest.fixture(
    params=[
        "sqlite:///{tmp}/removed-directory/makersbot.db",
        "postgresql+psycopg://postgres@127.0.0.1:{closed}/makersbot?connect_timeout=2",
    ],
    ids=["sqlite-directory-gone", "postgresql-port-closed"],
)
def unreachable_server(
    request: pytest.FixtureRequest, tmp_path: Path, fake_slack: FakeSlack
) -> Iterator[Server]:
    """The real WSGI app with webhooks configured, whose database cannot be reached."""

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = str(request.param).format(tmp=tmp_path, closed=closed)
    settings = make_settings(
        url,
        fake_slack,
        github_webhook_secret=GITHUB_SECRET,
        trello_api_secret=TRELLO_SECRET,
        public_url=PUBLIC_URL,
    )
    bot = build(settings)
    with serving(bot) as served:
        yield served
    bot.stop()


def test_a_database_failure_during_intake_answers_503(unreachable_server: Server) -> None:
    body = issue_event(1, "Bins", updated="2026-11-26T10:00:00Z")
    raw = json.dumps(body).encode()
    github = unreachable_server.post(
        "/github/webhook", raw, github_headers(GITHUB_SECRET, raw, "issues", "d-down-1")
    )
    assert github.status_code == 503 and github.headers["Retry-After"]
    trello_body, trello_headers = trello_delivery(fixture("trello/zulip/trello_creating_card.json"))
    trello = unreachable_server.post("/trello/webhook", trello_body, trello_headers)
    assert trello.status_code == 503
    # A bad signature is still the sender's fault, database or not.
    wrong = unreachable_server.post(
        "/github/webhook", raw, github_headers("wrong", raw, "issues", "d-down-2")
    )
    assert wrong.status_code == 401


# Slow sockets against the real servers ----------------------------------------------------

SLOW_SOCKETS = 200
BOUND = 2.0  # seconds; the goal is 1 s, bench/hostile.py reports the measured figures


class LiveServer:
    """`makersbot serve` or the Procfile's `web:` line as a subprocess on 127.0.0.1."""

    def __init__(self, kind: str, fake: FakeSlack, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "HOME": str(workdir),
            "XDG_RUNTIME_DIR": str(workdir),  # gunicorn's control socket goes here
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "DATABASE_URL": f"sqlite:///{workdir / 'makersbot.db'}",
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.base_url,
            "LOG_LEVEL": "INFO",
        }
        if kind == "serve":
            code = "from makersbot import cli, server; server.BIND_HOST = '127.0.0.1'; "
            argv = [sys.executable, "-c", code + "raise SystemExit(cli.main(['serve']))"]
        else:
            web = next(
                line.removeprefix("web:").strip()
                for line in (ROOT / "Procfile").read_text().splitlines()
                if line.startswith("web:")
            )
            argv = ["sh", "-c", "exec " + web.replace("0.0.0.0", "127.0.0.1")]
        self.log = (workdir / f"{kind}.log").open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with everything it forks
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the server exited during start-up"
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


class SlowSockets:
    """Connections that never finish a request: silent, half a request line, headers or a
    body trickled one byte a second."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets: list[tuple[socket.socket, bytes]] = []
        self._stop = threading.Event()
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            kind = n % 4
            if kind == 1:
                sock.sendall(b"POST /slack/ev")  # half a request line, then nothing
            if kind == 3:
                sock.sendall(
                    b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n"
                )
            trickle = {2: b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 500}
            self.sockets.append((sock, trickle.get(kind, b"b" * 900 if kind == 3 else b"")))
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        step = 0
        while not self._stop.wait(1.0):
            for sock, pending in self.sockets:
                if step < len(pending):
                    try:
                        sock.send(pending[step : step + 1])
                    except OSError:
                        pass
            step += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock, _ in self.sockets:
            sock.close()


@pytest.mark.parametrize("kind", ["serve", "web"])
def test_slow_sockets_do_not_delay_a_signed_command(
    kind: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    live = LiveServer(kind, fake_slack, tmp_path)
    try:
        live.wait_ready()
        slow = SlowSockets(live.port, SLOW_SOCKETS)
        try:
            time.sleep(1.5)  # every trickle has sent something: each socket looks busy
            for n in range(3):
                body = slash_command_body(text="help", trigger_id=f"slow.{n}")
                began = time.monotonic()
                response = requests.post(
                    live.url + "/slack/events",
                    data=body,
                    headers=slack_headers(SIGNING_SECRET, body),
                    timeout=10,
                )
                took = time.monotonic() - began
                assert response.status_code == 200 and "/makers" in response.text
                assert took < BOUND, f"{kind}: answered after {took:.2f} s"
                health = requests.get(live.url + "/healthz", timeout=10)
                assert health.status_code == 200
        finally:
            slow.close()
    finally:
        live.stop()
    assert b"Traceback" not in (tmp_path / f"{kind}.log").read_bytes()
