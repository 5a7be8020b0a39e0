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
the request (a few milliseconds). The thresholds were chosen on the labelled council projects in
`tests/test_similar.py` (see README, "How look-alikes are found"): they catch every pair a
person would call the same idea there and none of the pairs that only share a word. A false
alarm costs one click on *Start mine anyway*; a missed duplicate costs councils months.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
import secrets
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
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


_WORD = re.compile(r"[a-z0-9]+")


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
    if text.isascii():  # most texts: NFKD leaves ASCII as it is, so skip the round trip
        ascii_text = text.lower()
    else:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [_stem(w) for w in _WORD.findall(ascii_text) if w not in STOP_WORDS]


@dataclass(frozen=True)
class Likeness:
    """How much a project looks like the text asked about: `score` 0-100, the higher of the
    name ratio and 100 × the cosine."""

    project_id: int
    score: float


Query = tuple[str, str, Container[int] | None]  # name, description, among (None: any)


class SimilarityIndex:
    """The projects to compare with, indexed once: their names and TF-IDF vectors.

    Projects are rows 0..n-1 (`_ids` maps them back). The vectors are stored by term, as
    numpy arrays of rows and weights, so that a query adds one array per term of its own
    instead of looping in Python over every project that shares a word: the sums are the
    same, in the same order, so the scores are the same to the last bit.
    """

    def __init__(self, projects: Iterable[tuple[int, str, str]]) -> None:
        """`projects` are (id, name, description)."""
        self._ids: list[int] = []
        self._names: list[str] = []
        counts: list[Counter[str]] = []
        for project_id, name, description in projects:
            name_words = words(name)
            self._ids.append(project_id)
            self._names.append(" ".join(name_words))
            counts.append(self._terms(name_words, description))
        frequency: Counter[str] = Counter()
        for terms in counts:
            frequency.update(terms.keys())
        self._size = len(counts)
        self._idf = {term: self._idf_of(n) for term, n in frequency.items()}
        self._idf_unseen = self._idf_of(0)
        # An inverted index: term -> (rows, weights), so a query touches only the projects
        # that share a word with it.
        rows: dict[str, list[int]] = defaultdict(list)
        weights: dict[str, list[float]] = defaultdict(list)
        for row, terms in enumerate(counts):
            for term, weight in self._vector(terms).items():
                rows[term].append(row)
                weights[term].append(weight)
        self._postings = {
            term: (np.array(rows[term], dtype=np.intp), np.array(weights[term], dtype=np.float64))
            for term in rows
        }

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
        return self.likes([(name, description, among)], limit=limit)[0]

    def likes(self, queries: Sequence[Query], *, limit: int = MAX_SHOWN) -> list[list[Likeness]]:
        """`like` for many (name, description, among) at once: the names are compared with
        every project's in one `cdist` call."""
        names = [" ".join(words(name)) for name, _, _ in queries]
        asked = [n for n, text in enumerate(names) if text]  # no meaningful word: no ratio
        ratios = (
            process.cdist(
                [names[n] for n in asked],
                self._names,
                scorer=fuzz.token_sort_ratio,
                score_cutoff=NAME_MATCH,
                dtype=np.float64,  # the ratios as `extract` gives them, not rounded to float32
            )
            if asked and self._names
            else None
        )
        name_rows = {n: r for r, n in enumerate(asked)}
        found = []
        for n, (name, description, among) in enumerate(queries):
            scores = self._cosines(name, description)
            if ratios is not None and n in name_rows:
                matched = ratios[name_rows[n]]
                for row in np.flatnonzero(matched).tolist():
                    project_id = self._ids[row]
                    ratio = float(matched[row])
                    scores[project_id] = max(scores.get(project_id, 0.0), ratio)
            found.append(self._best(scores, among, limit))
        return found

    def _cosines(self, name: str, description: str) -> dict[int, float]:
        """100 × the cosine with each project at TEXT_MATCH or above."""
        cosine = np.zeros(self._size, dtype=np.float64)
        for term, weight in self._vector(self._terms(words(name), description)).items():
            posting = self._postings.get(term)
            if posting is not None:
                rows, others = posting
                cosine[rows] += weight * others
        hits = np.flatnonzero(cosine >= TEXT_MATCH).tolist()
        return {self._ids[row]: 100 * float(cosine[row]) for row in hits}

    @staticmethod
    def _best(scores: dict[int, float], among: Container[int] | None, limit: int) -> list[Likeness]:
        ranked = heapq.nsmallest(
            limit,
            (
                (-round(score, 1), project_id)
                for project_id, score in scores.items()
                if among is None or project_id in among
            ),
        )
        return [Likeness(project_id, -score) for score, project_id in ranked]


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
