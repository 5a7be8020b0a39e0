"""The webhook intake's memory of links (`delivery_sources.LinkedTargets`) and its one
statement per batch (`Database.single_statement`).

A batch of deliveries signed with a global secret needs to know which repositories links
mirror. Asking the database for every batch was a round trip of its own, and a transaction
around the INSERT two more; on PostgreSQL those were most of what storing a delivery cost
(bench/mirror.py, Procfile topology). Memory may only ever let a delivery in: every refusal
is checked against the database first.
"""

from __future__ import annotations

import json

from sqlalchemy import update
from sqlmodel import select

from makersbot.app import Bot
from makersbot.services.link_memory import LINKED_TTL, LinkedTargets
from makersbot.store.models import Delivery, Link
from tests.fakes.github import FakeGitHub
from tests.fakes.signing import github_headers
from tests.mirror_helpers import GITHUB_SECRET, REPO, link, lower, start_project, statements
from tests.test_trust_links import merged_pr


def older_link(bot: Bot, *, secret: str | None = None) -> int:
    """A link as migrated from the first release: its hook signs with the global secret
    (or, given `secret`, a link with a key of its own)."""
    project = start_project(bot)
    with bot.db.session() as session:
        link = Link(
            project_id=project.id or 0,
            source="github",
            target=REPO.lower(),
            target_name=REPO,
            webhook_secret=secret,
        )
        session.add(link)
        session.flush()
        assert link.id is not None
        return link.id


def post(bot: Bot, n: int, repo: str = REPO) -> tuple[int, str]:
    """Delivery `n`, a merged PR in `repo`, signed with the global secret (no hook id)."""
    payload = merged_pr(repo)
    payload["number"] = n
    raw = json.dumps(payload).encode()
    headers = lower(github_headers(GITHUB_SECRET, raw, "pull_request", f"delivery-{n}"))
    return bot.deliveries.accept_github(headers, raw)


def stored(bot: Bot) -> int:
    with bot.db.session(read_only=True) as session:
        return len(session.exec(select(Delivery)).all())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rekey_elsewhere(bot: Bot, link_id: int, secret: str | None) -> None:
    """Change a link's own key the way another process would: not through this process's
    ORM, so this process's memory is not told."""
    with bot.db.engine.begin() as conn:
        conn.execute(update(Link).where(Link.id == link_id).values(webhook_secret=secret))  # type: ignore[arg-type]


def test_a_warm_batch_asks_nothing_and_writes_one_statement(mbot: Bot) -> None:
    older_link(mbot)
    assert post(mbot, 1) == (200, "ok")  # the links are read once
    with statements(mbot) as sent:
        assert post(mbot, 2) == (200, "ok")
    assert not [s for s in sent if "FROM link" in s]  # the scope came from memory
    inserts = [s for s in sent if s.startswith("INSERT INTO delivery")]
    assert len(inserts) == 1
    if mbot.db.is_postgres:  # the INSERT alone, committing by itself: one round trip
        assert sent == inserts and inserts[0].endswith("(own commit)")
        # The pool hands that connection back in transactions for everyone else.
        for _ in range(3):
            with mbot.db.session() as session:
                driver = session.connection().connection.dbapi_connection
                assert getattr(driver, "autocommit", None) is False
    assert stored(mbot) == 2


def test_a_refusal_is_always_checked_against_the_database(mbot: Bot) -> None:
    link_id = older_link(mbot, secret="its-own-key")
    # Remembered: this repository's link has a key of its own, so the global secret may
    # not change it: refused, from a fresh read.
    assert post(mbot, 1)[0] == 403
    # Another process makes it an older link again: the refusal memory would give is
    # checked first, and the delivery is taken.
    rekey_elsewhere(mbot, link_id, None)
    assert post(mbot, 1) == (200, "ok")
    assert stored(mbot) == 1


def test_a_link_keyed_elsewhere_is_seen_within_the_ttl(mbot: Bot) -> None:
    clock = Clock()
    mbot.deliveries.linked_targets = LinkedTargets(clock=clock)
    link_id = older_link(mbot)
    assert post(mbot, 1) == (200, "ok")
    rekey_elsewhere(mbot, link_id, "its-own-key-now")
    clock.now += LINKED_TTL / 2  # still remembered: taken, as if it came a moment earlier
    assert post(mbot, 2) == (200, "ok")
    clock.now += LINKED_TTL  # forgotten: read again, and refused
    assert post(mbot, 3)[0] == 403
    assert stored(mbot) == 2


def test_a_link_this_process_writes_is_seen_at_once(mbot: Bot) -> None:
    clock = Clock()  # never moves: only the write can make memory forget
    mbot.deliveries.linked_targets = LinkedTargets(clock=clock)
    link_id = older_link(mbot)
    assert post(mbot, 1) == (200, "ok")
    with mbot.db.session() as session:
        link = session.get(Link, link_id)
        assert link is not None
        link.webhook_secret = "its-own-key-now"
        session.add(link)
    assert post(mbot, 2)[0] == 403
    assert stored(mbot) == 1


def test_an_unlinked_repository_is_never_remembered(mbot: Bot) -> None:
    with statements(mbot) as sent:
        for n in range(3):
            assert post(mbot, n, "Someone/Unlinked") == (200, "ignored: not linked")
    assert len([s for s in sent if "FROM link" in s]) == 3  # each asked the database
    assert stored(mbot) == 0


# A registered hook's key, by X-GitHub-Hook-ID ------------------------------------------


def post_hooked(bot: Bot, n: int, secret: str, hook_id: str) -> tuple[int, str]:
    """Delivery `n` as GitHub sends it from a hook the bot registered."""
    payload = merged_pr(REPO)
    payload["number"] = n
    raw = json.dumps(payload).encode()
    headers = github_headers(secret, raw, "pull_request", f"hooked-{n}")
    headers["X-GitHub-Hook-ID"] = hook_id
    return bot.deliveries.accept_github(lower(headers), raw)


def registered_hook(bot: Bot, fake_github: FakeGitHub) -> tuple[str, str]:
    """(secret, hook id) of the hook `/makers link` registered for REPO."""
    start_project(bot)
    link(bot, f"hello-world github {REPO}")
    [hook] = fake_github.hooks(REPO)
    return str(hook["config"]["secret"]), str(hook["id"])


def test_a_hooks_key_is_read_once_then_remembered(mbot: Bot, fake_github: FakeGitHub) -> None:
    secret, hook_id = registered_hook(mbot, fake_github)
    assert post_hooked(mbot, 1, secret, hook_id) == (200, "ok")
    with statements(mbot) as sent:
        assert post_hooked(mbot, 2, secret, hook_id) == (200, "ok")
    assert not [s for s in sent if "FROM link" in s]
    assert stored(mbot) == 2


def test_a_hook_re_keyed_elsewhere_is_verified_with_its_new_key_at_once(
    mbot: Bot, fake_github: FakeGitHub
) -> None:
    secret, hook_id = registered_hook(mbot, fake_github)
    assert post_hooked(mbot, 1, secret, hook_id) == (200, "ok")
    with mbot.db.session(read_only=True) as session:
        [link_row] = session.exec(select(Link)).all()
    rekey_elsewhere(mbot, link_row.id or 0, "the-new-secret")  # within the TTL
    # Signed with the new secret: the remembered one fails, the key is read again.
    assert post_hooked(mbot, 2, "the-new-secret", hook_id) == (200, "ok")
    # The old secret, now remembered as replaced, no longer works.
    assert post_hooked(mbot, 3, secret, hook_id)[0] == 401
    # A forged signature is refused, however the key was found.
    assert post_hooked(mbot, 4, "forged", hook_id)[0] == 401
    assert stored(mbot) == 2
