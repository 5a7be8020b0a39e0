"""`:github …` and `:trello …`: the console person plays GitHub or Trello.

Each command changes the in-process repository or board and sends its webhook to the bot,
exactly as the real service would; the console then lets the bot process it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from makersbot.console.github import ConsoleGitHub, Repo
from makersbot.console.github import Happened as GitHubHappened
from makersbot.console.trello import ConsoleTrello
from makersbot.console.trello import Happened as TrelloHappened

GITHUB_HELP = """\
Play GitHub (what you do is sent to the bot as GitHub's webhook):
  :github repos                              the repositories here, to link to a project
  :github open <repo> "title" [label …]      open an issue
  :github pr <repo> "title"                  open a pull request
  :github merge <repo> <n>                   merge a pull request: its author's council gives
  :github close <repo> <n>                   close an issue: your council gives
  :github comment <repo> <n> "text"          comment on an issue or pull request
  :github review <repo> <n> [approve|changes] ["text"]   review a PR: your council gives
  :github fork <repo>                        fork it: your council takes
<repo> is owner/name or just the name. You act as your GitHub login (/makers iam github),
or as your console name until you set one."""

TRELLO_HELP = """\
Play Trello (what you do is sent to the bot as Trello's webhook):
  :trello boards                             the boards here, their lists and cards
  :trello add <board> "card" [list]          add a card (to the first list unless you say)
  :trello move <card> <list>                 move a card: into Done, your council gives
  :trello comment <card> "text"              comment on a card
<board> is its name (in quotes), short link or URL; <card> its number or words of its name.
You act as your Trello username (/makers iam trello), or your console name until you set one."""


class PlayError(ValueError):
    """A `:github` / `:trello` line that cannot be played, worded for the person."""


Happened = GitHubHappened | TrelloHappened


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        raise PlayError("Unbalanced quotes.") from None


def _number(word: str) -> int:
    try:
        return int(word.lstrip("#"))
    except ValueError:
        raise PlayError(f"“{word}” is not an issue or pull request number.") from None


def _repo(github: ConsoleGitHub, ref: str) -> Repo:
    if "/" in ref:
        return github.repo(ref)
    found = [r for r in github.repos.values() if r.full_name.split("/")[1].lower() == ref.lower()]
    if len(found) != 1:
        raise PlayError(f"No repository “{ref}” here. `:github repos` lists them.")
    return found[0]


def play_github(github: ConsoleGitHub, line: str, *, by: str) -> Happened | str:
    """Run one `:github` line; a Happened, or text to show (a listing, the help)."""
    words = _words(line)
    verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
    if verb == "repos":
        return "\n".join(
            f"{repo.full_name} — {repo.description} · {_count(len(repo.issues), 'issue')}"
            f"{' · webhook to the bot' if repo.hooks else ''}"
            for repo in github.repos.values()
        )
    actions: dict[str, tuple[int, Callable[[Repo, Sequence[str]], Happened]]] = {
        "open": (2, lambda r, a: github.open(r.full_name, a[0], by=by, labels=a[1:])),
        "issue": (2, lambda r, a: github.open(r.full_name, a[0], by=by, labels=a[1:])),
        "pr": (2, lambda r, a: github.open(r.full_name, a[0], by=by, pr=True, labels=a[1:])),
        "merge": (2, lambda r, a: github.merge(r.full_name, _number(a[0]), by=by)),
        "close": (2, lambda r, a: github.close(r.full_name, _number(a[0]), by=by)),
        "comment": (3, lambda r, a: github.comment(r.full_name, _number(a[0]), a[1], by=by)),
        "review": (2, lambda r, a: _review(github, r, a, by)),
        "fork": (1, lambda r, a: github.fork(r.full_name, by=by)),
    }
    if verb not in actions:
        return GITHUB_HELP
    needed, act = actions[verb]
    if len(args) < needed:
        raise PlayError(f"Not enough words for `:github {verb}`.\n{GITHUB_HELP}")
    return act(_repo(github, args[0]), args[1:])


def _review(github: ConsoleGitHub, repo: Repo, args: Sequence[str], by: str) -> Happened:
    verdict = args[1].lower() if len(args) > 1 else "approve"
    if verdict not in ("approve", "changes"):
        raise PlayError("A review is `approve` or `changes`.")
    text = args[2] if len(args) > 2 else ""
    return github.review(
        repo.full_name, _number(args[0]), by=by, approve=verdict == "approve", text=text
    )


def play_trello(trello: ConsoleTrello, line: str, *, by: str) -> Happened | str:
    """Run one `:trello` line; a Happened, or text to show (a listing, the help)."""
    words = _words(line)
    verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
    if verb == "boards":
        lines = []
        for board in trello.boards.values():
            hooked = any(h.board_id == board.id for h in trello.webhooks.values())
            lines.append(f"“{board.name}” {board.url}{' · webhook to the bot' if hooked else ''}")
            for list_id, name in board.lists.items():
                cards = [
                    f"#{c['idShort']} {c['name']}"
                    for c in board.cards.values()
                    if c["idList"] == list_id and not c["closed"]
                ]
                lines.append(f"  {name}: {'; '.join(cards) or '—'}")
        return "\n".join(lines)
    if verb == "add" and len(args) >= 2:
        return trello.add(args[0], args[1], by=by, list_name=" ".join(args[2:]))
    if verb == "move" and len(args) >= 2:
        return trello.move(args[0], " ".join(args[1:]), by=by)
    if verb == "comment" and len(args) >= 2:
        return trello.comment(args[0], " ".join(args[1:]), by=by)
    return TRELLO_HELP


def _count(n: int, word: str) -> str:
    return f"{n} {word if n == 1 else word + 's'}"
