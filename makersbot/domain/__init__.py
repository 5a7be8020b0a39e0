"""Plain domain types shared by services, renderers and handlers: no database, no Slack.

Split by subject; import from the submodule (`makersbot.domain.projects`), not from here."""
