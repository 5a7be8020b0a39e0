"""The catalogue of projects (`/makers list`, `info`, the Home tab), cached between changes."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from makersbot.db import Database
from makersbot.domain.projects import ProjectCard
from makersbot.domain.requests import Actor, UserError
from makersbot.publishing import Publisher
from makersbot.services.cards import load_cards
from makersbot.services.project_flow import Clock, ProjectFlow, ProjectRules
from makersbot.slack_gateway import SlackChannels
from makersbot.store import people as people_store
from makersbot.store import projects as project_store

log = logging.getLogger(__name__)

# How long a process trusts its last reading of the catalogue's version when it has not
# written anything itself since; a reading up to STALE_SECONDS old is still used while a
# newer one is read in the background (ProjectCatalogue.catalogue_version). A change
# made by another process shows within STALE_SECONDS; one made by this process at once.
# Every reading is a thread, a session and a pass over the project table: at 0.1 s they
# were a sixth of what a busy web worker spent beyond the bare Bolt app (bench/ack.py on
# PostgreSQL; p99 1.43-1.67x the floor in 3 runs, 1.27-1.45x at 0.25 s).
RECHECK_SECONDS = 0.25
STALE_SECONDS = 0.5
READER_IDLE = 5.0  # seconds without a reading asked for before its thread ends
# Cards loaded together when `info` misses the cache (about 15 ms for 200 on SQLite).
CARD_BATCH = 300


class CardCache:
    """A small, thread-safe, least-recently-used cache of rendered-card data."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[object, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: object, value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@dataclass(frozen=True)
class _Entry:
    card: ProjectCard
    makers: frozenset[str]  # Slack user ids of its members other than adopters


@dataclass(frozen=True)
class _Index:
    version: tuple[int, int, int]
    by_slug: dict[str, tuple[int, int]]  # slug -> (id, revision)
    revisions: dict[int, int]  # id -> revision


class ProjectCatalogue(ProjectFlow):
    """`/makers list` and `info`, and the projects a person belongs to."""

    def __init__(
        self,
        db: Database,
        channels: SlackChannels,
        publisher: Publisher,
        clock: Clock,
        rules: ProjectRules | None = None,
    ) -> None:
        super().__init__(db, channels, publisher, clock, rules)
        # `list` and `info` answer inside Slack's acknowledgement: cards (and who makes each
        # project) are cached until any project changes (project_store.catalogue_version),
        # which every process can see. The version itself is read again after this process
        # writes, or RECHECK_SECONDS after the last reading: most acks touch no database.
        self._cards = CardCache()
        self._version: tuple[tuple[int, int, int], int, float] | None = None
        self.recheck_seconds = RECHECK_SECONDS
        # `info`: each project's card and makers by (id, revision), with the slug index.
        self._current: _Index | None = None
        self._entries_by_revision: dict[tuple[int, int], _Entry] = {}
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._reading = False  # a background reading of the version is asked for or under way
        # The thread that reads it: kept while busy, as starting a thread per reading (four
        # a second) cost as much as the reading itself; it ends after READER_IDLE seconds.
        self._reader: threading.Thread | None = None
        self._wanted = threading.Event()

    def catalogue(self, words: Sequence[str], *, limit: int = 20) -> tuple[list[ProjectCard], int]:
        """Projects matching every word, with the total before the limit."""
        key = ("list", tuple(w.lower() for w in words), limit, self.catalogue_version())
        cached = self._cards.get(key)
        if cached is not None:
            return cast(tuple[list[ProjectCard], int], cached)
        with self.db.session(read_only=True) as session:
            projects, total = project_store.search_projects(session, words=words, limit=limit)
            result = (load_cards(session, projects), total)
        self._cards.put(key, result)
        return result

    def warm(self) -> None:
        """Load up to CARD_BATCH cards before a web worker serves its first `info`."""
        self._entries(list(self._index().by_slug.values())[:CARD_BATCH])

    def card(self, actor: Actor, ref: str | None) -> ProjectCard:
        """One project's card."""
        return self._entry(actor, ref).card

    def is_maker(self, actor: Actor, project_id: int) -> bool:
        """Whether the person already makes the project (a Join button would be no use)."""
        revision = self._index().revisions.get(project_id)
        if revision is not None:
            entries = self._entries([(project_id, revision)])
            return actor.slack_user_id in entries[project_id, revision].makers
        return False  # gone since the card was read: nothing to join either

    def _entry(self, actor: Actor, ref: str | None) -> _Entry:
        index = self._index()
        ref = (ref or "").strip()
        found = index.by_slug.get(ref) if ref else None  # slugs name exactly one project
        if found is None:
            key = ("ref", ref.lower(), actor.channel_id, index.version)
            found = cast(tuple[int, int] | None, self._cards.get(key))
            if found is None:
                with self.db.session(read_only=True) as session:
                    project = self._resolve(session, actor, ref or None)
                assert project.id is not None
                found = (project.id, project.revision or 0)
                self._cards.put(key, found)
        return self._entries([found])[found]

    def _index(self) -> _Index:
        """Every project's slug and revision at the current catalogue version."""
        version = self.catalogue_version()
        index = self._current
        if index is None or index.version != version:
            with self._loading:
                index = self._current
                if index is not None and index.version == version:
                    return index
                return self._rebuild(version)
        return index

    def _rebuild(self, version: tuple[int, int, int]) -> _Index:
        with self.db.session(read_only=True) as session:
            rows = project_store.revisions(session)
        index = _Index(version, {s: (i, r) for i, s, r in rows}, {i: r for i, _, r in rows})
        with self._lock:  # cards of revisions that are gone are no use any more
            live = set(index.by_slug.values())
            for key in [k for k in self._entries_by_revision if k not in live]:
                del self._entries_by_revision[key]
        self._current = index
        return index

    def _entries(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], _Entry]:
        """Cards and makers of (project id, revision) pairs; on a miss, up to CARD_BATCH
        more of the current index's projects are loaded with them (two or three queries
        whatever their number), so a process warms up in a few requests."""
        with self._lock:
            known = {w: self._entries_by_revision.get(w) for w in wanted}
        if any(entry is None for entry in known.values()):
            with self._loading:  # one load at a time: requests that missed together wait
                with self._lock:  # for it rather than each loading the same batch
                    known = {w: self._entries_by_revision.get(w) for w in wanted}
                self._load_missing(known)
        return cast(dict[tuple[int, int], _Entry], known)

    def _load_missing(self, known: dict[tuple[int, int], _Entry | None]) -> None:
        missing = [w for w, entry in known.items() if entry is None]
        if missing:
            index = self._current
            more = [] if index is None else list(index.by_slug.values())
            with self._lock:
                more = [k for k in more if k not in self._entries_by_revision]
            batch = list(dict.fromkeys(missing + more))[: max(CARD_BATCH, len(missing))]
            loaded = self._load_entries([i for i, _ in batch])
            with self._lock:
                for project_id, revision in batch:
                    entry = loaded.get(project_id)
                    if entry is not None:  # data newer than the key is fine (see above)
                        self._entries_by_revision[project_id, revision] = entry
            for w in missing:
                entry = loaded.get(w[0])
                if entry is None:
                    raise UserError(f"That project is gone (id {w[0]}).")
                known[w] = entry

    def _load_entries(self, ids: Sequence[int]) -> dict[int, _Entry]:
        with self.db.session(read_only=True) as session:
            projects = project_store.projects_by_id(session, ids=ids)
            cards = load_cards(session, projects)
            makers = project_store.makers_by_project(session, project_ids=ids)
        return {c.id: _Entry(c, frozenset(makers.get(c.id, ()))) for c in cards}

    def catalogue_version(self) -> tuple[int, int, int]:
        """`project_store.catalogue_version`, read again only after this process wrote
        something, or once its last reading is `recheck_seconds` old.

        Between `recheck_seconds` and STALE_SECONDS a busy process keeps answering from
        its last reading while one thread reads it again in the background: on
        PostgreSQL a request that waits for the round trip also waits its turn for the
        GIL behind the other requests (p99 15 ms, bench/ack.py). An older reading (an
        idle process) is replaced before the request goes on. Data cached under a version
        is never older than that version (the version is read first), so an old reading
        only costs a cache miss, never older cards once the next reading is in.
        """
        seen = self._version
        if seen is not None and seen[1] == self.db.writes:
            age = time.monotonic() - seen[2]
            if age < self.recheck_seconds:
                return seen[0]
            if age < STALE_SECONDS:
                self._read_version_in_background()
                return seen[0]
        return self._read_version()

    def _read_version(self) -> tuple[int, int, int]:
        writes, now = self.db.writes, time.monotonic()
        with self.db.single_read() as connection:
            version = project_store.catalogue_version(connection)
        self._version = (version, writes, now)
        return version

    def _read_version_in_background(self) -> None:
        with self._lock:
            if self._reading:
                return
            self._reading = True
            self._wanted.set()
            if self._reader is None:
                self._reader = threading.Thread(
                    target=self._read_when_wanted, name="catalogue-version", daemon=True
                )
                self._reader.start()

    def _read_when_wanted(self) -> None:
        while True:
            if not self._wanted.wait(READER_IDLE):
                with self._lock:  # nothing asked meanwhile: end; the next ask starts one
                    if not self._wanted.is_set():
                        self._reader = None
                        return
            self._wanted.clear()
            try:
                self._read_version()
            except Exception:  # the next request reads it itself once it is too old
                log.warning("reading the catalogue version failed", exc_info=True)
            finally:
                with self._lock:
                    self._reading = False

    def projects_of(self, slack_user_id: str) -> list[ProjectCard]:
        """The projects a person belongs to."""
        with self.db.session(read_only=True) as session:
            person = people_store.get_person(session, slack_user_id=slack_user_id)
            if person is None or person.id is None:
                return []
            projects = project_store.projects_of(session, person_id=person.id)
            return load_cards(session, projects)
