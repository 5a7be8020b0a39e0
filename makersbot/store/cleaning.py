"""The one choke point for clean input: no text reaches a table uncleaned, whatever the path.

`makersbot/domain/text.py` says what is stripped and why. It is applied at three places that
together see every value written:

- `before_cursor_execute` on the engine: every string parameter of every statement, ORM or
  Core (`insert_ignore`, the delivery intake's INSERT on SQLite, raw SQL), lookups
  included, so a lookup with a stray NUL finds the cleaned row instead of failing on
  PostgreSQL. The one statement that goes round the engine, the delivery intake's INSERT
  on PostgreSQL (store/deliveries.py), calls `clean_parameters` itself.
- the engine's JSON serializer: strings inside JSON columns (labels, blocks, filters), which
  the driver receives as a JSON document rather than as a string parameter.
- `before_flush` on sessions: the objects themselves, so what a service reads back from the
  object it just saved (and renders into a reply) is what the database holds; names and
  titles (`SINGLE_LINE`) also lose their line breaks here.

A code path cannot forget to clean unless it bypasses the engine; the one that does (above)
cleans for itself, and tests/test_clean_input.py checks it on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, event, inspect
from sqlmodel import Session

from makersbot.domain.text import SINGLE_LINE, clean_line, clean_text, clean_value, needs_cleaning


def install(engine: Engine) -> None:
    """Clean every string parameter of every statement this engine runs."""
    event.listen(engine, "before_cursor_execute", _clean_statement, retval=True)
    if not event.contains(Session, "before_flush", _clean_session):
        event.listen(Session, "before_flush", _clean_session)


def json_serializer(value: Any) -> str:
    """`json.dumps` of the cleaned value: the engine's serializer for JSON columns."""
    return json.dumps(clean_value(value))


def _clean_statement(
    _conn: Any,
    _cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    if executemany and isinstance(parameters, Sequence) and not isinstance(parameters, str):
        return statement, [clean_parameters(p) for p in parameters]
    return statement, clean_parameters(parameters)


def clean_parameters(parameters: Any) -> Any:
    """Dict (named styles) or tuple/list (positional styles) with its strings cleaned; the
    same object when there was nothing to clean, as for almost every statement. For a
    statement run on the driver's own cursor, which the engine's events do not see."""
    if isinstance(parameters, Mapping):
        dirty = [k for k, v in parameters.items() if isinstance(v, str) and needs_cleaning(v)]
        if not dirty:
            return parameters
        cleaned = dict(parameters)
        for key in dirty:
            cleaned[key] = clean_text(cleaned[key])
        return cleaned
    if isinstance(parameters, list | tuple):
        if not any(isinstance(v, str) and needs_cleaning(v) for v in parameters):
            return parameters
        return type(parameters)(clean_text(v) if isinstance(v, str) else v for v in parameters)
    return parameters


def _clean_session(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        _clean_object(obj)


def _clean_object(obj: object) -> None:
    """Clean what the flush will write: every loaded value of a new object, only the changed
    ones of a loaded object (the others came from the table, already clean; a webhook's
    stored body is not searched again each time its delivery is marked processed)."""
    state = inspect(obj)
    table = getattr(state.mapper.local_table, "name", "")
    changed = state.committed_state if state.has_identity else None
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key not in state.dict:  # not loaded: nothing of ours to write
            continue
        if changed is not None and key not in changed:
            continue
        value = state.dict[key]
        if isinstance(value, str):
            cleaned: Any = (
                clean_line(value) if f"{table}.{key}" in SINGLE_LINE else clean_text(value)
            )
        elif isinstance(value, dict | list):
            cleaned = clean_value(value)
        else:
            continue
        if cleaned is not value and cleaned != value:
            setattr(obj, key, cleaned)
