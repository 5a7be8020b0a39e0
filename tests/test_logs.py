"""Log lines: one record is one line whatever it contains, and only real secrets are hidden."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from makersbot import logs

FORGED = "ok\n2026-11-26 10:00:00,000 ERROR makersbot: admin logged in\r\x1b[2K"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure() rewires the root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def emit(fmt: str, name: str, message: str, *args: object, exc: bool = False) -> str:
    """What the configured formatter writes for one record."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(logs.JsonFormatter())
    else:
        handler.setFormatter(logs.TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(f"test_logs.{fmt}.{name}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.info(message, *args, exc_info=exc)
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_newlines_in_arguments_cannot_forge_a_line(fmt: str) -> None:
    out = emit(fmt, "args", "refused project %s", FORGED)
    assert out.count("\n") == 1 and "\r" not in out and "\x1b" not in out
    message = json.loads(out)["message"] if fmt == "json" else out
    assert "ok\\n2026-11-26 10:00:00,000 ERROR makersbot: admin logged in\\r\\x1b[2K" in message


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_newlines_in_the_message_itself_are_escaped(fmt: str) -> None:
    out = emit(fmt, "msg", "name: " + FORGED)
    assert out.count("\n") == 1
    assert "\\n2026-11-26" in (json.loads(out)["message"] if fmt == "json" else out)


@pytest.mark.parametrize(
    "char, shown",
    [
        ("\x00", "\\x00"),
        ("\t", "\\t"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),  # NEL, a line break to some viewers
        ("\u2028", "\\u2028"),  # LINE SEPARATOR
        ("\u202e", "\\u202e"),  # RIGHT-TO-LEFT OVERRIDE: reverses what follows on screen
    ],
)
def test_other_control_characters_are_escaped(char: str, shown: str) -> None:
    out = emit("text", "ctl", "title %s", f"a{char}b")
    assert char not in out and f"a{shown}b" in out


def test_a_traceback_keeps_its_lines_but_cannot_forge_a_record() -> None:
    try:
        raise ValueError("bad input\nERROR makersbot: forged record")
    except ValueError:
        out = emit("text", "exc", "request failed")
        json_out = emit("json", "exc", "request failed", exc=True)
        text_out = emit("text", "exc2", "request failed", exc=True)
    assert out.count("\n") == 1
    first, *rest = text_out.rstrip("\n").split("\n")
    assert first.endswith("test_logs.text.exc2: request failed")
    assert rest and all(line.startswith("  ") for line in rest)
    assert any("Traceback" in line for line in rest)
    assert json_out.count("\n") == 1
    assert "forged record" in json.loads(json_out)["exception"]


def test_failed_to_authorize_is_not_redacted() -> None:
    """Bolt's `slack_bolt.SingleTeamAuthorization: Failed to authorize ...` once read
    `slack_bolt.SingleTeamAuthorization: *** to authorize`: the logger name ended in
    "Authorization" and the colon after it looked like a header."""
    out = emit("text", "SingleTeamAuthorization", "Failed to authorize with the given token (x)")
    assert "SingleTeamAuthorization: Failed to authorize with the given token (x)" in out
    assert "***" not in out
    assert "***" not in logs.redact("Failed to authorize; the token expired")


@pytest.mark.parametrize(
    "text, secret",
    [
        ("token xoxb-1234-5678-abcdef rejected", "xoxb-1234-5678-abcdef"),
        ("app token xapp-1-A0-123-abc", "xapp-1-A0-123-abc"),
        ("GITHUB_TOKEN=ghp_" + "a" * 36, "ghp_" + "a" * 36),
        ("github_pat_" + "B" * 40, "github_pat_" + "B" * 40),
        ("Authorization: Bearer abc.def-123", "abc.def-123"),
        ('{"token": "s3cr3t-value"}', "s3cr3t-value"),
        ("GET /1/boards?key=k&token=trello-tok&x=1", "trello-tok"),
        ("SLACK_SIGNING_SECRET=9f8e7d6c", "9f8e7d6c"),
        ("postgresql+psycopg://bot:hunter2@db/makers", "hunter2"),
    ],
)
def test_real_secrets_are_redacted(text: str, secret: str) -> None:
    out = emit("text", "secret", "%s", text) + emit("json", "secret", text)
    assert secret not in out and "***" in out


def test_configure_installs_one_safe_handler_and_hides_bolt_request_bodies(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO", "text")
    logs.configure("INFO", "text")  # idempotent: still one handler, one filter
    assert len(logging.getLogger().handlers) == 1
    bolt = logging.getLogger("slack_bolt.RequestVerification")
    assert len(bolt.filters) == 1
    level, bolt.level = bolt.level, logging.DEBUG  # Bolt copies the root's level at start
    try:
        # What Bolt's RequestVerification logs for a request it rejects: the whole body.
        bolt.info("Invalid request signature detected (signature: x, timestamp: 1, body: SECRET)")
        bolt.info("kept %s", "a\nforged")
    finally:
        bolt.level = level
    err = capsys.readouterr().err
    assert "SECRET" not in err
    assert err.count("\n") == 1 and "kept a\\nforged" in err
