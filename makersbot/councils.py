"""The UK council register and a forgiving matcher for what people type.

The register is mySociety's list of UK local authorities, shipped as package data (see
``makersbot/data/README.md``). ``CouncilRegister.match`` turns free text such as "guildford bc",
"Brighton & Hove" or "Manchestr" into one council, a short list of choices, or nothing.

Matching runs through tiers, most certain first, and stops at the first tier that finds anything:

1. a local-authority code typed in capitals ("GRT") or a GSS code ("E07000209");
2. the whole normalised text equals one of a council's names ("woking" is Woking, not Wokingham);
3. the text with council-type words stripped ("guildford bc" -> "guildford") equals a name that a
   council goes by on its own ("Surrey CC" -> "surrey" -> Surrey County Council);
4. it equals a council's name once that name is stripped too ("newcastle" is "Newcastle City
   Council" stripped), unless a longer name starts with it ("Newcastle-under-Lyme"): then choices;
5. it is a run of whole words inside a name ("hove" -> Brighton and Hove; "kingston" -> choices),
   except that one name that merely adds a compass word ("West Berkshire") does not stand for
   the whole area ("Berkshire");
6. similarity with rapidfuzz, for typos: one council when it is clearly best, else choices.

A short list of names the data cannot settle ("London") always gives choices.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources

from rapidfuzz import fuzz, process

from makersbot.council_names import (
    JOINING_WORDS,
    contains_words,
    core_name,
    is_part_of,
    names_of,
    normalise,
    starts_with_words,
)

__all__ = ["Council", "CouncilMatch", "CouncilRegister", "default_register"]

_DATA_PACKAGE = "makersbot"
_DATA_FILE = "data/uk_local_authorities.csv"

# Names the register cannot settle by itself. "London" strips "City of London" down to "london",
# which would quietly pick the City of London Corporation; most people mean the GLA or London in
# general, so ask instead.
_SHARED_NAMES: dict[str, tuple[str, ...]] = {"london": ("LND", "GLA")}

_GSS_RE = re.compile(r"[ENSW]\d{8}", re.IGNORECASE)

# Fuzzy thresholds, on rapidfuzz's 0-100 ratio (normalised Indel similarity; a swap of two
# letters counts as two edits). One missing, extra or swapped letter in a name of seven or more
# letters scores 85-95 ("guildfrod"/"guildford" 88.9, "manchestr"/"manchester" 94.7). Tried on
# 4,000 one-letter typos of councils' short names, 85 settled 93% on the right council and none
# on a wrong one; 82 settled 95% but also turned towns of abolished councils into a neighbour
# ("Barrow" -> Harrow, "Andover" -> Dover, both 83.3). A wrong council said with confidence is
# worse than asking, so 85.
_FUZZY_ACCEPT = 85.0
# The winner must also lead the runner-up by this much, or the typo sits between two real names
# ("Harow": Harrow and Harlow both 90.9) and the user is asked. 8 still lets "Wokingam" through
# (Wokingham 94.1, Woking 85.7); at 6, "Saford" (two slips from Stafford, one from Salford) was
# settled as Salford without asking.
_FUZZY_MARGIN = 8.0
# Scores from here up are offered as choices; 1,000 random letter strings stayed below it.
_FUZZY_SUGGEST = 75.0
# Below this many letters one letter moves the ratio by 25 points or more.
_FUZZY_MIN_LENGTH = 4

_MAX_CHOICES = 5


@dataclass(frozen=True)
class Council:
    """One local authority from the register."""

    code: str  # local-authority-code, e.g. "GRT"
    name: str  # official-name, e.g. "Guildford Borough Council"
    short_name: str  # nice-name, e.g. "Guildford"
    nation: str  # England / Scotland / Wales / Northern Ireland
    region: str
    kind: str  # local-authority-type-name
    gss_code: str


@dataclass(frozen=True)
class CouncilMatch:
    """The outcome of matching text against the register.

    ``council`` is set when one council is meant. Otherwise ``choices`` holds 2 to 5 candidates,
    best first, when the text is ambiguous or only close to some names; both are empty when
    nothing is close.
    """

    council: Council | None
    choices: tuple[Council, ...] = ()


_NO_MATCH = CouncilMatch(council=None, choices=())


class CouncilRegister:
    """An immutable set of councils with lookups by code and by what people type."""

    def __init__(self, councils: Iterable[Council]) -> None:
        """Index ``councils``; names come from the packaged CSV when built by ``load``."""
        self._councils: tuple[Council, ...] = tuple(councils)
        self._by_code: dict[str, Council] = {c.code: c for c in self._councils}
        self._by_gss: dict[str, Council] = {c.gss_code.upper(): c for c in self._councils}
        # Spellings come from the CSV row, not the Council, so a register built from bare
        # Council objects (tests, callers) still matches their official and short names.
        self._spellings: dict[str, list[str]] = {
            c.code: [c.name, c.short_name] for c in self._councils
        }
        self._index()

    @classmethod
    def load(cls, today: date | None = None) -> CouncilRegister:
        """Load the packaged register, leaving out councils whose start-date is after ``today``.

        ``today`` defaults to the current date. Planned authorities stay in the data file with a
        future start-date, so the register grows on its own when they come into being.
        """
        cutoff = today or date.today()
        text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
        councils: list[Council] = []
        spellings: dict[str, list[str]] = {}
        for row in csv.DictReader(io.StringIO(text)):
            start = row["start-date"].strip()
            if start and date.fromisoformat(start) > cutoff:
                continue
            council = Council(
                code=row["local-authority-code"].strip(),
                # Some names carry stray spaces in the source ("North Somerset  Council").
                name=" ".join(row["official-name"].split()),
                short_name=" ".join(row["nice-name"].split()),
                nation=row["nation"].strip(),
                region=row["region"].strip(),
                kind=row["local-authority-type-name"].strip(),
                gss_code=row["gss-code"].strip(),
            )
            councils.append(council)
            spellings[council.code] = names_of(row)
        register = cls(councils)
        register._spellings.update(spellings)
        register._index()
        return register

    def _index(self) -> None:
        # Everything match() compares against is computed here once, so a match is a few dict
        # look-ups plus one vectorised rapidfuzz pass.
        self._full: dict[str, set[str]] = {}  # normalised name -> council codes
        self._core: dict[str, set[str]] = {}  # stripped name -> council codes
        self._names_by_code: dict[str, tuple[str, ...]] = {}
        for council in self._councils:
            fulls: set[str] = set()
            cores: set[str] = set()
            for spelling in self._spellings[council.code]:
                full = normalise(spelling)
                core = core_name(full)
                if not core:
                    continue
                fulls.add(full)
                cores.add(core)
            for full in fulls:
                self._full.setdefault(full, set()).add(council.code)
            for core in cores:
                self._core.setdefault(core, set()).add(council.code)
            self._names_by_code[council.code] = tuple(sorted(cores))
        self._fuzzy_full = list(self._full)
        self._fuzzy_core = list(self._core)
        # For similarity, a stripped name belongs to the councils that go by it on its own, if
        # any: "sheffield" is Sheffield City Council's name, while the South Yorkshire combined
        # authority only reduces to it ("Sheffield City CA"). Without this every typo of
        # "Sheffield" or "Liverpool" would tie between the council and the combined authority.
        self._fuzzy_core_owners: dict[str, set[str]] = {
            core: (codes & self._full.get(core, set())) or codes
            for core, codes in self._core.items()
        }

    def __len__(self) -> int:
        """Return the number of councils in the register."""
        return len(self._councils)

    def __iter__(self) -> Iterator[Council]:
        """Iterate over the councils in register (code) order."""
        return iter(self._councils)

    def get(self, code: str) -> Council | None:
        """Return the council with local-authority code ``code`` ("GRT"), or None."""
        return self._by_code.get(code.strip().upper())

    def match(self, text: str) -> CouncilMatch:
        """Find the council meant by ``text``: one council, a few choices, or nothing.

        See the module docstring for the order of the tiers.
        """
        raw = text.strip()
        if not raw:
            return _NO_MATCH

        # Codes are compared only in capitals, as registers print them: in lower case "the",
        # "new" and "red" are words, not Three Rivers, New Forest and Redditch.
        if raw.isupper() and raw in self._by_code:
            return CouncilMatch(council=self._by_code[raw])
        if _GSS_RE.fullmatch(raw) and raw.upper() in self._by_gss:
            return CouncilMatch(council=self._by_gss[raw.upper()])

        full = normalise(raw)
        core = core_name(full)
        if not core:
            return _NO_MATCH

        # Checked before the name tiers, which would settle these on one council.
        if core in _SHARED_NAMES and full not in self._full:
            shared = [self._by_code[code] for code in _SHARED_NAMES[core] if code in self._by_code]
            return self._result(shared)
        return self._match_name(full, core)

    def _match_name(self, full: str, core: str) -> CouncilMatch:
        """Tiers 2 to 4: the text is, or strips down to, a council's name."""
        # Tier 2: the text as typed (normalised) is one of a council's own names.
        if full in self._full:
            return self._result(self._ranked(self._full[full], core))

        # Tier 3: stripped of type words, it is a name a council goes by on its own.
        if core in self._full:
            return self._result(self._ranked(self._full[core], core))

        # Tier 4: it equals a council's name once that name is stripped too. A longer name that
        # starts with the same words and goes on with a different place makes it ambiguous.
        if core in self._core:
            exact = self._core[core]
            rivals = {
                code
                for name, codes in self._core.items()
                if starts_with_words(name, core)
                and name[len(core) + 1 :].split()[0] not in JOINING_WORDS
                for code in codes
            } - exact
            return self._result(self._ranked(exact, core) + self._ranked(rivals, core))
        return self._match_words(full, core)

    def _match_words(self, full: str, core: str) -> CouncilMatch:
        """Tier 5, whole words inside a longer name ("Kingston", "Hove", "Fulham"), then 6."""
        inside: set[str] = set()
        part_of: set[str] = set()
        for name, codes in self._core.items():
            if contains_words(name, core):
                (part_of if is_part_of(name, core) else inside).update(codes)
        # "West Berkshire" is only part of Berkshire, so "Berkshire" alone must not pick it;
        # several such parts ("Sussex": Mid, East, West) are still worth offering.
        if inside or len(part_of) > 1:
            return self._result(self._ranked(inside, core) + self._ranked(part_of - inside, core))

        return self._fuzzy(full, core, lead=self._ranked(part_of, core))

    def _fuzzy(self, full: str, core: str, lead: list[Council]) -> CouncilMatch:
        """Match by similarity; ``lead`` are weak word matches to offer ahead of any guesses."""
        scores: dict[str, float] = {}
        # Below a few letters a ratio is too coarse to mean anything: skip the comparison.
        if len(core.replace(" ", "")) >= _FUZZY_MIN_LENGTH:
            # Compare like with like: the stripped text against stripped names, which forgives a
            # missing "Borough Council", and the whole text against whole names, which forgives
            # a typo inside a type word ("Guildford Borough Counci").
            for query, keys, index in (
                (core, self._fuzzy_core, self._fuzzy_core_owners),
                (full, self._fuzzy_full, self._full),
            ):
                for key, score, _ in process.extract(
                    query, keys, scorer=fuzz.ratio, limit=None, score_cutoff=_FUZZY_SUGGEST
                ):
                    for code in index[key]:
                        scores[code] = max(score, scores.get(code, 0.0))
        ranked = sorted(scores, key=lambda code: (-scores[code], code))
        if ranked and not lead:
            best = scores[ranked[0]]
            runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
            if best >= _FUZZY_ACCEPT and best - runner_up >= _FUZZY_MARGIN:
                return CouncilMatch(council=self._by_code[ranked[0]])
        candidates = list(dict.fromkeys([*lead, *(self._by_code[code] for code in ranked)]))
        if len(candidates) < 2:
            # One weak guess is not worth a question: better to ask the user to retype.
            return _NO_MATCH
        return CouncilMatch(council=None, choices=tuple(candidates[:_MAX_CHOICES]))

    def _ranked(self, codes: Iterable[str], core: str) -> list[Council]:
        """Order candidates best first by their closest name: equal, starting with, containing
        the text; then by shorter name, as the longer ones are usually joint authorities."""

        def key(code: str) -> tuple[int, int, str]:
            fits = [
                (0 if name == core else 1 if starts_with_words(name, core) else 2, len(name))
                for name in self._names_by_code[code]
                if contains_words(name, core)
            ]
            tier, length = min(fits, default=(3, 0))
            return (tier, length, code)

        return [self._by_code[code] for code in sorted(set(codes), key=key)]

    @staticmethod
    def _result(candidates: list[Council]) -> CouncilMatch:
        unique = list(dict.fromkeys(candidates))
        if not unique:
            return _NO_MATCH
        if len(unique) == 1:
            return CouncilMatch(council=unique[0])
        return CouncilMatch(council=None, choices=tuple(unique[:_MAX_CHOICES]))


@functools.cache
def default_register() -> CouncilRegister:
    """Return the packaged register as of the first call, loaded once per process."""
    return CouncilRegister.load()
