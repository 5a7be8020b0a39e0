"""The server side of the mirror benchmark: seeding the database and `makersbot serve`.

`seed` creates the projects and links in-process, as `/makers start` and `/makers link`
would; `Serve` runs `makersbot serve` as production does, on 127.0.0.1 only; `wait_drained`
waits until every delivery is processed and the outbox is empty.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._common import (
    ServerProcess,
    children_of,
    cpu_seconds,
    peak_rss_kib,
    use_shared_secrets,
)
from bench._mirror.layout import (
    GITHUB_SECRET,
    PUBLIC_URL,
    SIGNING_SECRET,
    STARTER,
    TOKEN,
    TRELLO_KEY,
    TRELLO_SECRET,
    TRELLO_TOKEN,
    Layout,
    ProjectSpec,
)

if TYPE_CHECKING:
    from makersbot.app import Bot
    from makersbot.domain.requests import Actor
    from tests.fakes.github import FakeGitHub
    from tests.fakes.trello import FakeTrello


def settings_env(
    fake_slack: str, github: str, trello: str, database_url: str, port: int
) -> dict[str, str]:
    """The configuration of the seeding bot and of the served one (the README's variables)."""
    return {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack,
        "GITHUB_TOKEN": "ghp_benchtoken",
        "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "GITHUB_API_URL": github,
        "TRELLO_API_KEY": TRELLO_KEY,
        "TRELLO_TOKEN": TRELLO_TOKEN,
        "TRELLO_API_SECRET": TRELLO_SECRET,
        "TRELLO_API_URL": trello,
        "PUBLIC_URL": PUBLIC_URL,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        # One maker starts every project of the layouts: more than the default daily cap.
        "MAKERS_START_DAILY_CAP": "1000",
    }


# Seeding ---------------------------------------------------------------------------------------


def seed(
    env: Mapping[str, str], layouts: Sequence[Layout], github: FakeGitHub, trello: FakeTrello
) -> None:
    """Create the projects (channels, pinned cards) and link repos and boards in-process.

    Links go through `bot.links.link`, as `/makers link` does, against the fake GitHub and
    Trello: webhooks are registered (so the served bot never polls them) and each board
    summary is posted and pinned. Fills in each item's outbox key and channel. The outbox
    is drained to the FakeSlack and the engine disposed before the server starts.
    """
    from slack_sdk import WebClient

    from makersbot.app import build
    from makersbot.domain.requests import Actor
    from makersbot.settings import Settings

    values: dict[str, Any] = {name.lower(): value for name, value in env.items()}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    client = WebClient(token=TOKEN, base_url=env["SLACK_API_URL"])
    bot = build(settings, client=client, per_channel_interval=0.0)
    keys = iter(range(1_000_000))

    def actor() -> Actor:
        # An admin: the seed starts one project per channel, past the daily start cap.
        return Actor(STARTER, "bench maker", is_admin=True, request_key=f"seed-{next(keys)}")

    try:
        bot.db.upgrade()
        bot.people.set_council(actor(), "Leeds")
        for layout in layouts:
            filters = "" if layout.threads else " threads:off"
            for project in layout.projects:
                _start_and_link(bot, actor, project, filters, github, trello)
        bot.sender.drain()
        _fill_in_keys(bot, layouts)
        use_shared_secrets(bot)
    finally:
        bot.stop()  # disposes the engine: the server opens the database afresh


def _start_and_link(
    bot: Bot,
    actor: Callable[[], Actor],
    project: ProjectSpec,
    filters: str,
    github: FakeGitHub,
    trello: FakeTrello,
) -> None:
    from makersbot.domain.projects import slugify

    bot.projects.start(actor(), project.name, "Benchmark project.", anyway=True)
    slug = slugify(project.name)
    if project.repo:
        github.add_repo(project.repo)
        reply = bot.links.link(actor(), f"{slug} github {project.repo}{filters}").reply
        if "webhook is set up" not in reply:
            raise RuntimeError(f"linking {project.repo}: {reply}")
    if project.board:
        b = project.board
        trello.add_board(b.id, b.name, b.short_link)
        reply = bot.links.link(actor(), f"{slug} trello {b.id}{filters}").reply
        if "webhook is set up" not in reply:
            raise RuntimeError(f"linking board {b.name}: {reply}")


def _fill_in_keys(bot: Bot, layouts: Sequence[Layout]) -> None:
    """Each item's outbox key and channel, each container's summary key, from the links."""
    from sqlmodel import select

    from makersbot.services.mirror import item_key_of, summary_key
    from makersbot.store.models import Link, Project

    with bot.db.session(read_only=True) as session:
        links = {(lk.source, lk.target): lk for lk in session.exec(select(Link)).all()}
        channels = {p.id: p.channel_id for p in session.exec(select(Project)).all()}
    for layout in layouts:
        for item in layout.items:
            target = item.container.lower() if item.source == "github" else item.container
            link = links[item.source, target]
            assert link.id is not None and link.webhook_id is not None
            item.message_key = item_key_of(link.id, item.item_key)
            item.channel = channels[link.project_id] or ""
            layout.summary_keys[item.container] = summary_key(link.id)


# The served bot ------------------------------------------------------------------------------

# `makersbot serve` exactly as production runs it (cli.main(["serve"]): the bot is built in
# the gunicorn master, the worker starts the sender, processor and poller in
# post_worker_init), with two differences: the bind address is 127.0.0.1 instead of
# 0.0.0.0 (nothing here listens beyond loopback), and the kernel SIGTERMs the server when
# the benchmark dies (PR_SET_PDEATHSIG), as bench/_common.py does for its servers.
_SERVE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "from makersbot import cli\n"
    "_init = cli._Gunicorn.__init__\n"
    "def _loopback(self, app, options):\n"
    "    options['bind'] = '127.0.0.1:' + os.environ['PORT']\n"
    "    _init(self, app, options)\n"
    "cli._Gunicorn.__init__ = _loopback\n"
    "sys.exit(cli.main(['serve']))\n"
)


class Serve(ServerProcess):
    """`makersbot serve` as a subprocess on a given 127.0.0.1 port; stops by itself."""

    def __init__(self, env: Mapping[str, str], workdir: Path, port: int) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / "makersbot-serve.log"
        self._proc: subprocess.Popen[bytes] | None = None

    name = "makersbot serve"
    stop_timeout = 15.0

    def start(self, timeout: float = 60.0) -> Serve:
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(os.getpid())],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"makersbot serve exited early\n{self.log_tail()}")
            if self.health() is not None and self.worker_pids():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"makersbot serve not ready in {timeout:.0f}s\n{self.log_tail()}")

    def health(self) -> dict[str, Any] | None:
        """GET /healthz as JSON, or None when the server does not answer 200."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                return None
            data = json.loads(body)
            return data if isinstance(data, dict) else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        return children_of(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker(s) so far."""
        return cpu_seconds(self.worker_pids())

    def peak_rss_kib(self) -> tuple[int, int]:
        """(worker, master) VmHWM in KiB."""
        workers = self.worker_pids()
        return max((peak_rss_kib(pid) for pid in workers), default=0), peak_rss_kib(self.pid)

    def pss_kib(self) -> int:
        """Proportional set size of master + workers now, in KiB: pages they share after the
        fork are counted once (Pss in /proc/<pid>/smaps_rollup)."""
        total = 0
        for pid in [self.pid, *self.worker_pids()]:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """WARNING/ERROR lines and tracebacks in the server's log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if re.search(r"WARNING|ERROR|CRITICAL|Traceback", line)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Waiting for the outcome -----------------------------------------------------------------------


def pending_deliveries(db_path: Path) -> tuple[int, int]:
    """(unprocessed, failed) deliveries, read straight from the SQLite file; a board summary
    not rebuilt yet counts as unprocessed."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        pending = conn.execute(
            "SELECT (SELECT count(*) FROM delivery WHERE processed_at IS NULL)"
            " + (SELECT count(*) FROM stale_summary)"
        ).fetchone()
        failed = conn.execute("SELECT count(*) FROM delivery WHERE error IS NOT NULL").fetchone()
        return int(pending[0]), int(failed[0])
    finally:
        conn.close()


def wait_drained(
    serve: Serve, db_path: Path, since: float, timeout: float
) -> tuple[float | None, float | None]:
    """Poll until no delivery is pending and the outbox is empty (bounded by `timeout`).

    Returns (processed_in, drained_in) in seconds after `since`, None when not reached.
    """
    processed_in = drained_in = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending, _ = pending_deliveries(db_path)
        if pending == 0 and processed_in is None:
            processed_in = time.time() - since
        health = serve.health() or {}
        if pending == 0 and health.get("outbox_depth") == 0:
            drained_in = time.time() - since
            break
        time.sleep(0.25)
    return processed_in, drained_in
