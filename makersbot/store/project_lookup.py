"""Finding a project by what someone typed, forgivingly: exact references first, then the
typed words, then similarity for typos. Session first, keyword-only."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlmodel import Session, col, select

from makersbot.domain.projects import slugify
from makersbot.store.models import Project
from makersbot.store.projects import find_project, projects_by_id

# Forgiving lookup, in the manner of `makersbot/councils.py`: the tiers run most certain first
# and stop at the first that finds anything. Thresholds are on rapidfuzz's 0-100 ratio of the
# names' words (as slugs make them: lower-case ASCII letters and digits). One slip in a name of
# a dozen letters scores 88-97 ("bin dya reminders" 94.1, "parkng permits" 96.3); two different
# names that share a word stay below 80 ("bin day reminders"/"bin collection reminders" 66.7).
# The council matcher's figures carry over: accept 85 with a lead of 8, suggest from 75.
_FUZZY_ACCEPT = 85.0
_FUZZY_MARGIN = 8.0
_FUZZY_SUGGEST = 75.0
_FUZZY_MIN_LENGTH = 4  # below this many letters one letter moves the ratio by 25 or more
_PREFIX_MIN_LENGTH = 3  # the last word typed may be the start of a word: "bin day remind"
MAX_CHOICES = 5


@dataclass(frozen=True)
class ProjectLookup:
    """What a reference finds: one project; or choices (best first) when it is ambiguous or
    only close; or neither. `score` (0-100) says how closely the words fit the name."""

    project: Project | None
    choices: tuple[Project, ...] = ()
    score: float = 0.0


def _words(text: str) -> list[str]:
    return [w for w in slugify(text).split("-") if w] if text else []


def _contains_run(name: list[str], ref: list[str]) -> bool:
    """The typed words appear in order, side by side, in the name; the last may be cut short."""
    n = len(ref)
    for start in range(len(name) - n + 1):
        window = name[start : start + n]
        if window[:-1] != ref[:-1]:
            continue
        last, typed = window[-1], ref[-1]
        if last == typed or (len(typed) >= _PREFIX_MIN_LENGTH and last.startswith(typed)):
            return True
    return False


@dataclass(frozen=True)
class ProjectNames:
    """Every project's name as words and its slug: what forgiving lookups compare, loaded
    once for several lookups (`split_ref` tries up to eight)."""

    words: dict[int, list[str]]
    slugs: dict[int, str]


def project_names(session: Session) -> ProjectNames:
    rows = session.execute(select(col(Project.id), col(Project.slug), col(Project.name))).all()
    return ProjectNames(
        words={int(i): _words(name) or slug.split("-") for i, slug, name in rows},
        slugs={int(i): slug for i, slug, _ in rows},
    )


def lookup_project(
    session: Session, *, ref: str, names: ProjectNames | None = None
) -> ProjectLookup:
    """A project by what someone typed: exactly (`find_project`), then forgivingly.

    Tiers: the exact references; the typed words as a slug; the words as a run inside one
    name ("bin day" is Bin day reminders; "bin" alone may be several: choices); then
    similarity for typos: one project when it is clearly best, else choices.
    """
    exact = find_project(session, ref=ref)
    if exact is not None:
        return ProjectLookup(exact, score=100.0)
    typed = _words(ref.strip().lstrip("#").removeprefix("makers-"))
    if not typed:
        return ProjectLookup(None)
    names = names or project_names(session)
    words = names.words
    joined = " ".join(typed)

    def score(project_id: int) -> float:
        return float(fuzz.ratio(joined, " ".join(words[project_id])))

    same = [i for i, slug in names.slugs.items() if slug == "-".join(typed)]
    if same:
        return ProjectLookup(projects_by_id(session, ids=same)[0], score=100.0)
    inside = [i for i, name in words.items() if _contains_run(name, typed)]
    if inside:
        # Best first: the name starting with the words, then the closest, then the shortest.
        inside.sort(key=lambda i: (words[i][: len(typed)] != typed, -score(i), len(words[i]), i))
        if len(inside) == 1:
            return ProjectLookup(projects_by_id(session, ids=inside)[0], score=score(inside[0]))
        return ProjectLookup(None, tuple(projects_by_id(session, ids=inside[:MAX_CHOICES])))
    return _fuzzy(session, joined, {i: " ".join(w) for i, w in words.items()})


def _fuzzy(session: Session, typed: str, names: dict[int, str]) -> ProjectLookup:
    if len(typed.replace(" ", "")) < _FUZZY_MIN_LENGTH:
        return ProjectLookup(None)
    found = process.extract(
        typed, names, scorer=fuzz.ratio, limit=MAX_CHOICES, score_cutoff=_FUZZY_SUGGEST
    )
    if not found:
        return ProjectLookup(None)
    best, runner_up = found[0][1], found[1][1] if len(found) > 1 else 0.0
    if best >= _FUZZY_ACCEPT and best - runner_up >= _FUZZY_MARGIN:
        return ProjectLookup(projects_by_id(session, ids=[found[0][2]])[0], score=float(best))
    # Close, but not clearly one: offer them, even a single one ("Did you mean…?").
    return ProjectLookup(None, tuple(projects_by_id(session, ids=[key for _, _, key in found])))
