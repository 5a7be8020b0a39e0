"""`makersbot console --demo`: the scripted week runs by itself and shows the whole product."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_the_demo_plays_a_week_and_ends_with_the_digest_and_its_chart(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "makersbot.cli", "console", "--demo"],
        stdin=subprocess.DEVNULL,
        # TMPDIR: the throwaway database and the saved chart stay in this test's folder.
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    key_lines = [
        # Trust as in production: councils verified by Slack e-mails at their domains, logins
        # typed as claims and then proven (GitHub's device flow, a Trello token).
        "[console] Guildford Borough Council: verified by your e-mail alice@guildford.gov.uk "
        "(offline).",
        "You are with Woking Borough Council, verified by your Slack e-mail (woking.gov.uk).",
        "credited to nobody until you prove it with `/makers iam github`.",
        "[github] You sign in to GitHub as priya-codes and enter the code ",
        "[posted in a DM to @priya]\n  Your GitHub account is `priya-codes`, proven.",
        "Your Trello account is `priya_w`, proven.",
        "Your GitHub account is `sam-leeds`, proven.",
        # The start form, filled in by the script, and the pinned card.
        "  Project name: Bin day reminders",
        "[posted in #makers-bin-day-reminders]\n  == Bin day reminders ==",
        # Offline GitHub and Trello, through the webhook intake.
        "Its webhook is set up, so changes arrive as they happen.",
        "[github] priya-codes opened pull request #3 “Send reminders by text”",
        "[updated in #makers-bin-day-reminders]\n  🟣 #3 Send reminders by text",
        "[trello] priya_w moved “Write the privacy notice” from To do to Done",
        "📋 Bin day reminders — Done 2",
        # Polish: adopters listed, not counted; phase names in one casing.
        "Councils: makers: Guildford, Woking · using it: Leeds",
        "`bin-day-reminders` · 2 members",
        "Bin day reminders is now in Alpha.",
        # The week's digest in the hub, and a project digest with its news.
        "[clock] It is now Monday 23 November 2026, 09:00.",
        "[posted in #makers]\n  == Makers digest: the week to 23 Nov 2026 ==",
        "2 councils gave 5 times; 2 gave for the first time. 1 council reused others' work twice.",
        "Woking · gave 3 (1 project started, 1 PR merged, 1 card done) · ▲3",
        "Guildford · gave 2 (1 project started, 1 review) · ▲2",
        "Leeds · took 2 (1 adoption, 1 fork)",
        "Leeds: #1 Add Welsh translations (Bin day reminders · good first issue)",
        "  This week in Bin day reminders\n  🟢 1 opened · 🟣 1 merged · 🗂 1 card done",
        "Moved to 🧪 Alpha",
        "📣 Latest status: Texts go to 200 households in the pilot",
        "🎉 Adopted by Leeds",
    ]
    missing = [line for line in key_lines if line not in out]
    assert not missing, missing
    # The chart: saved as a PNG, with only the councils that gave on it.
    saved = re.findall(r"The digest's chart is saved as (.+\.png)\.", out)
    assert saved and Path(saved[0]).read_bytes().startswith(b"\x89PNG")
    assert Path(saved[0]).is_relative_to(tmp_path)
    described = out.split("described as: ", 1)[1].splitlines()[0]
    assert "Woking: gave 3" in described and "Leeds" not in described
    assert not list(tmp_path.glob("makersbot-demo-*"))  # the throwaway database is gone
    # The README's quick start shows this output, abridged: every line it quotes is real.
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    quoted = readme.split("Its output, abridged", 1)[1].split("```text\n", 1)[1].split("```")[0]
    invented = [
        line
        for line in quoted.splitlines()
        if line.strip() not in ("", "…") and line.replace("/tmp/", f"{tmp_path}/") not in out
    ]
    assert not invented, invented
