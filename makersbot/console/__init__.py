"""The offline console: the real bot, with Slack, GitHub and Trello played in this process.

People type `/makers …` lines; the bot's acknowledgements, replies, channel posts and card
updates are printed as readable text. `:github …` and `:trello …` play those services' side
through the same webhook intake and mirror as production. Trust runs as in production too:
the console's Slack gives each person a confirmed e-mail at the council they pick, and its
GitHub and Trello answer the sign-ins that prove a login (`trust.py`, `accounts.py`). It uses
the configured database.
"""

from makersbot.console.repl import Console
from makersbot.console.session import ConsoleClock
from makersbot.console.text import blocks_as_text, messages_as_text, readable

__all__ = ["Console", "ConsoleClock", "blocks_as_text", "messages_as_text", "readable"]
