"""Does a new project look like one that exists already? (issue 10, item 4)

Two measures, and a project is a look-alike when either says so:

- **The names**, compared with rapidfuzz's `token_sort_ratio` once both are reduced to their
  meaningful words (lower case, no stop words such as "app" or "council", plurals and "-ing"
  trimmed). It forgives word order ("Report a pothole" / "Pothole reporting": 100), plurals
  and typos ("Bin day remnders": 96.8), which word counts cannot.
- **The words of name and description**, as a small TF-IDF: each project is a vector of its
  words, weighted up when rare among all projects and down when common ("residents",
  "online"), name words counting twice; two projects are as alike as the cosine of their
  vectors. It finds the same idea under another name ("Bin collection reminders" for "Bin day
  reminders — tell residents the evening before collection"), which names alone cannot.

Why these and not embeddings: no model to download or host, explainable in one sentence to
the person who sees the prompt, and fast enough to compare a start with 5,000 projects inside
the request (about 20 ms). The thresholds were chosen on the labelled council projects in
`tests/test_similar.py` (see README, "How look-alikes are found"): they catch every pair a
person would call the same idea there and none of the pairs that only share a word. A false
alarm costs one click on *Start mine anyway*; a missed duplicate costs councils months.
"""

from __future__ import annotations

import functools
import math
import re
import secrets
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process
from sqlmodel import Session

from makersbot.domain.similar import Similar
from makersbot.services.cards import load_cards
from makersbot.store import pending_starts
from makersbot.store import projects as project_store

NAME_MATCH = 85.0  # token_sort_ratio of the names' meaningful words, 0-100
TEXT_MATCH = 0.40  # cosine of the TF-IDF vectors of name and description, 0-1
MAX_SHOWN = 3  # look-alikes shown at most, best first
NAME_WEIGHT = 2  # a name word counts as often as this in the vector
DESCRIPTION_WORDS = 300  # a long description is read this far
PENDING_FOR = timedelta(days=1)  # a held-back start can be started anyway for this long

# Words that say nothing about what a council project does.
STOP_WORDS = frozenset(
    """
    a about all an and any are as at be by can do for from get has have how in into is it
    its me my new of on or our so such that the their them these they this to up us use
    using was we what when which who will with you your
    app apps project projects service services tool tools system systems platform digital
    online council councils local authority uk web website site portal
    """.split()
)


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Trim the endings that most often tell the same word apart: reminders/reminder,
    reporting/report, libraries/library. Deliberately light: it must never merge two words."""
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


def words(text: str) -> list[str]:
    """The meaningful words of a text, in order: ASCII, lower case, stemmed, no stop words."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", ascii_text) if w not in STOP_WORDS]


@dataclass(frozen=True)
class Likeness:
    """How much a project looks like the text asked about: `score` 0-100, the higher of the
    name ratio and 100 × the cosine."""

    project_id: int
    score: float


class SimilarityIndex:
    """The projects to compare with, indexed once: their names and TF-IDF vectors."""

    def __init__(self, projects: Iterable[tuple[int, str, str]]) -> None:
        """`projects` are (id, name, description)."""
        self._names: dict[int, str] = {}
        counts: dict[int, Counter[str]] = {}
        for project_id, name, description in projects:
            name_words = words(name)
            self._names[project_id] = " ".join(name_words)
            counts[project_id] = self._terms(name_words, description)
        frequency: Counter[str] = Counter()
        for terms in counts.values():
            frequency.update(terms.keys())
        self._size = len(counts)
        self._idf = {term: self._idf_of(n) for term, n in frequency.items()}
        self._idf_unseen = self._idf_of(0)
        # An inverted index: term -> (project, weight), so a query touches only the projects
        # that share a word with it.
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for project_id, terms in counts.items():
            for term, weight in self._vector(terms).items():
                self._postings[term].append((project_id, weight))

    @staticmethod
    def _terms(name_words: Sequence[str], description: str) -> Counter[str]:
        terms: Counter[str] = Counter()
        for word in name_words:
            terms[word] += NAME_WEIGHT
        terms.update(words(description)[:DESCRIPTION_WORDS])
        return terms

    def _idf_of(self, documents: int) -> float:
        """Smoothed inverse document frequency, as scikit-learn computes it."""
        return math.log((1 + self._size) / (1 + documents)) + 1

    def _vector(self, terms: Counter[str]) -> dict[str, float]:
        idf, unseen = self._idf, self._idf_unseen
        weights = {
            term: (1 + math.log(n) if n > 1 else 1.0) * idf.get(term, unseen)
            for term, n in terms.items()
        }
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {term: w / norm for term, w in weights.items()}

    def like(
        self,
        name: str,
        description: str = "",
        *,
        among: Container[int] | None = None,
        limit: int = MAX_SHOWN,
    ) -> list[Likeness]:
        """The projects (of `among`, when given) this name and description look like, best
        first."""
        name_words = words(name)
        cosine: dict[int, float] = defaultdict(float)
        for term, weight in self._vector(self._terms(name_words, description)).items():
            for project_id, other in self._postings.get(term, ()):
                cosine[project_id] += weight * other
        scores = {i: 100 * c for i, c in cosine.items() if c >= TEXT_MATCH}
        if name_words:
            for _, ratio, project_id in process.extract(
                " ".join(name_words),
                self._names,
                scorer=fuzz.token_sort_ratio,
                limit=None,
                score_cutoff=NAME_MATCH,
            ):
                scores[project_id] = max(scores.get(project_id, 0.0), float(ratio))
        found = [
            Likeness(project_id, round(score, 1))
            for project_id, score in scores.items()
            if among is None or project_id in among
        ]
        found.sort(key=lambda s: (-s.score, s.project_id))
        return found[:limit]


# For the services -----------------------------------------------------------------------


class LookAlikeFinder:
    """Finds the look-alikes of a start. The index (a few hundred milliseconds to build for
    5,000 projects) is kept until a project's name or description changes, which every
    process sees through `project_store.texts_version`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: tuple[object, SimilarityIndex] | None = None

    def index(self, session: Session) -> SimilarityIndex:
        version = project_store.texts_version(session)
        with self._lock:
            if self._index is None or self._index[0] != version:
                texts = project_store.project_texts(session)
                self._index = (version, SimilarityIndex((i, n, d) for i, n, d, _ in texts))
            return self._index[1]

    def find(self, session: Session, *, name: str, description: str) -> tuple[Similar, ...]:
        """The existing projects a new one (not started yet) looks like, as cards, best first."""
        found = self.index(session).like(name, description)
        projects = project_store.projects_by_id(session, ids=[f.project_id for f in found])
        cards = {card.id: card for card in load_cards(session, projects)}
        return tuple(Similar(cards[f.project_id], f.score) for f in found if f.project_id in cards)


def hold_start(
    session: Session, *, slack_user_id: str, name: str, description: str, at: datetime
) -> str:
    """Keep a start until its starter decides; returns the token its button carries."""
    pending_starts.prune_pending_starts(session, before=at - PENDING_FOR)
    token = secrets.token_urlsafe(18)
    pending_starts.keep_pending_start(
        session,
        token=token,
        slack_user_id=slack_user_id,
        name=name,
        description=description,
        at=at,
    )
    return token
