"""`makersbot console --demo`: a week of three councils working together, played by the
console on a throwaway database, ending with the weekly digest and its chart.

The story is an ordinary console script: `#` lines are narration, every other line is typed
as it would be at the prompt. It runs against a fixed week (from Monday 16 November 2026,
10:00 London time), so its output is the same every time.
"""

from __future__ import annotations

import io
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from makersbot.console.repl import Console
from makersbot.console.session import CHARTS_DIR, ConsoleClock
from makersbot.settings import Settings

START = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # a Monday; London is on GMT in November

SCRIPT = """\
# Monday 16 November. Alice, of Guildford: her Slack e-mail there verifies her council.
/makers iam council Guildford
# A typed GitHub login is only a claim: she proves it on GitHub's page (the console plays her).
/makers iam github alice-gfd
/makers iam github
# Now she starts a project with the form.
/makers start
Bin day reminders
Tell residents which bin goes out, by text or email
# Priya, of Woking, proves her GitHub and Trello accounts and joins from the card's button.
:as priya
/makers iam council Woking
/makers iam github priya-codes
/makers iam github
/makers iam trello priya_w
/makers iam trello token ATTAofflineTokenFromTrellosPage0001
:click join bin-day-reminders
# Alice links the project's repository and board: the bot mirrors them from now on.
:as alice
/makers link bin-day-reminders github localgov-makers/bin-day-reminders
/makers link bin-day-reminders trello "Bin day reminders"
/makers phase bin-day-reminders alpha
# Tuesday. Priya opens a pull request; Alice reviews and merges it. Watch the message change.
:wait 1 day
:as priya
:github pr bin-day-reminders "Send reminders by text"
:as alice
:github review bin-day-reminders 3 approve "Lovely, thank you"
:github merge bin-day-reminders 3
# Wednesday. Priya finishes a card on the board. Sam, of Leeds, adopts the project.
:wait 1 day
:as priya
:trello move "privacy notice" Done
:as sam
/makers iam council Leeds
/makers iam github sam-leeds
/makers iam github
/makers adopt bin-day-reminders
:github fork bin-day-reminders
# Thursday. Priya starts a second project; Alice reports how the first is going.
:wait 1 day
:as priya
/makers start Parking permits — apply for and renew a residents' permit online
:as alice
/makers status bin-day-reminders Texts go to 200 households in the pilot
/makers list woking
# Monday 23 November, 09:00: the digest is due. Alice makes herself an admin and posts it now.
:wait until monday 09:00
:admin
/makers digest now
"""


def run_demo(
    settings: Settings,
    *,
    stdout: TextIO | None = None,
    charts_dir: Path | None = None,
) -> int:
    """Play the story on a database in a temporary folder; 0 when it ran to the end."""
    out = stdout or sys.stdout
    with tempfile.TemporaryDirectory(prefix="makersbot-demo-") as folder:
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{Path(folder) / 'demo.db'}",
                "digest_channel": "makers",
                "makers_admins": "",
            }
        )
        console = Console(
            demo_settings,
            user_name="alice",
            stdin=io.StringIO(SCRIPT),
            stdout=out,
            clock=ConsoleClock(START),
            charts_dir=charts_dir or CHARTS_DIR,
            echo=True,
            introduce=False,
        )
        try:
            print(
                "A week of makersbot in a minute: three councils, two projects, a GitHub "
                "repository and a Trello board,\nall played in this process on a throwaway "
                "database. `makersbot console` lets you try it yourself.",
                file=out,
            )
            code = console.loop()
        finally:
            console.close()
    charts = console.slack.saved_charts
    if charts:
        print(f"The digest's chart is saved as {charts[-1]}.", file=out)
    return code
