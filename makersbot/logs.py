"""Logging set-up: text or JSON lines, secrets redacted and control characters escaped.

Two promises hold for every record, whatever its message or arguments contain:
- one record is one line: CR, LF and every other control character (and the Unicode line
  separators and bidi overrides that some viewers honour) are escaped as `\\n`, `\\x1b`,
  `\\u2028`..., so text from a request can never forge a log line. Tracebacks keep their
  lines, each indented, so a line that starts at the margin is always a new record;
- secrets are redacted from the message and the traceback only (never from the logger
  name: `slack_bolt.SingleTeamAuthorization: Failed to authorize` once became `*** to
  authorize`), and only real secrets: tokens by their shape, and values after a keyword
  such as `token=` or `Authorization:`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# Slack tokens, GitHub tokens, bearer credentials, keyword=value secrets, URL passwords.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"), "***"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "***"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), "***"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), "***"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), r"\1\2***"),
    # A keyword starting a word (or after `_`: SLACK_SIGNING_SECRET, access_token), then
    # `=` or `:`, optionally quoted: `token=...`, `"secret": "..."`, `Authorization: Bearer
    # ...`. Not "Failed to authorize", not "the token expired".
    (
        re.compile(
            r"(?i)(?<![a-z0-9])((?:token|secret|password|passwd|api_?key|authorization)[a-z_]*)"
            r"(['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic|token)\s+)?[^\s'\",;&}]+"
        ),
        r"\1\2***",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
]

# C0 and C1 controls, DEL, Unicode line/paragraph separators, bidi embeddings/overrides.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def redact(text: str) -> str:
    """Replace anything that looks like a secret with ***."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def escape(text: str) -> str:
    """`text` on one line: control characters become visible escapes (`\\n`, `\\x1b`...)."""
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_message(record: logging.LogRecord) -> str:
    """The record's message with its arguments, redacted and on one line."""
    return escape(redact(record.getMessage()))


def _indented(block: str) -> str:
    """A traceback, redacted, each line indented and free of other control characters."""
    lines = redact(block).splitlines() or [""]
    return "\n".join("  " + escape(line) for line in lines)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, with the traceback (if any) indented below."""

    def format(self, record: logging.LogRecord) -> str:
        line = self.formatMessage(_with_message(record, safe_message(record), self))
        if record.exc_info:
            line += "\n" + _indented(self.formatException(record.exc_info))
        elif record.exc_text:
            line += "\n" + _indented(record.exc_text)
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        return line


def _with_message(
    record: logging.LogRecord, message: str, formatter: logging.Formatter
) -> logging.LogRecord:
    # A copy: other handlers of the same record must see it unchanged.
    copy = logging.makeLogRecord(record.__dict__)
    copy.message = message
    if formatter.usesTime():
        copy.asctime = formatter.formatTime(copy, formatter.datefmt)
    return copy


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log platforms."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": safe_message(record),
        }
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        # json.dumps escapes every control character left (in the traceback) as \uXXXX.
        return json.dumps(payload)


class _QuietBoltTokenWarning(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN is unused when it is given a client: by design here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in record.getMessage()


class _NoRequestBodies(logging.Filter):
    """Bolt's RequestVerification logs the whole body of every request it rejects (at INFO).

    The web app checks signatures on the raw bytes first and logs one short line of its
    own (length and hash), so Bolt never sees a bad request; should it ever reject one, the
    body still stays out of the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Invalid request signature")


_TOKEN_WARNING = _QuietBoltTokenWarning()
_REQUEST_BODIES = _NoRequestBodies()


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Install one handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # addFilter ignores a filter already there, so calling configure() again adds nothing.
    logging.getLogger("slack_bolt.App").addFilter(_TOKEN_WARNING)
    logging.getLogger("slack_bolt.RequestVerification").addFilter(_REQUEST_BODIES)
    if level != "DEBUG":
        # Migration chatter at every start is noise; failures still show as errors.
        logging.getLogger("alembic").setLevel(logging.WARNING)
