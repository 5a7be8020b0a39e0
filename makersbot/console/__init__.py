"""The offline console: the real bot, with Slack, GitHub and Trello played in this process.

People type `/makers …` lines; the bot's acknowledgements, replies, channel posts and card
updates are printed as readable text. `:github …` and `:trello …` play those services' side
through the same webhook intake and mirror as production. It uses the configured database.
"""

from makersbot.console.repl import Console
from makersbot.console.session import ConsoleClock
from makersbot.console.text import blocks_as_text, messages_as_text, readable

__all__ = ["Console", "ConsoleClock", "blocks_as_text", "messages_as_text", "readable"]
