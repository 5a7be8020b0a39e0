"""The production topology is the tested topology (issue 8, deliverable 3).

Runs the repository's Procfile on PostgreSQL exactly as a Procfile runner does (`release`,
then `web` with its gunicorn workers and two `worker` processes; only `$PORT` and the bind
address differ), with Slack failing a fifth of the chat calls with 429 or 503, and sends a few
hundred signed GitHub and Trello deliveries for 30 items in ten project channels. Web only
accepts (deliveries sent before the workers start wait for them); the workers process and
send. Every item must end with one message showing its final
state, every board summary its final counts, and the week's digest must be posted once,
though both workers run the scheduler.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench._common import clean_env
from bench._mirror.check import analyse, meta_key
from bench._mirror.faults import FaultySlack
from bench._mirror.layout import TRELLO_KEY, TRELLO_TOKEN, make_layout
from bench._mirror.plan import Planner, bursts_of
from bench._mirror.procfile import Probe, Topology
from bench._mirror.send import bad_acks, send_all
from bench._mirror.serve import free_port, seed, settings_env
from makersbot.settings import Settings
from tests.conftest import POSTGRES_URL, _drop_postgres, _fresh_postgres
from tests.fakes.github import FakeGitHub
from tests.fakes.trello import FakeTrello

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None,
    reason="the Procfile topology runs on PostgreSQL: set MAKERSBOT_TEST_POSTGRES_URL",
)

DELIVERIES = 300
FAULT_RATE = 0.2


@pytest.fixture
def postgres_url() -> Iterator[str]:
    assert POSTGRES_URL is not None
    url = _fresh_postgres(POSTGRES_URL)
    yield url
    _drop_postgres(url)


def installed_last_week(url: str) -> None:
    """The bot has been running since last week (the first start on a database records when
    it was installed, and owes no digest for a week that began before that)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO scheduler_run (job, ran_at) VALUES ('installed', :at)"),
                {"at": datetime.now(UTC) - timedelta(days=8)},
            )
    finally:
        engine.dispose()


def digest_claims(url: str, channel: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM digest_claim WHERE channel = :channel")
            return int(conn.execute(query, {"channel": channel}).scalar_one())
    finally:
        engine.dispose()


def test_the_procfile_topology_shows_every_item_once_and_one_digest(
    tmp_path: Path, postgres_url: str
) -> None:
    layout = make_layout("spread", concurrency=8, number=1, github_items=20, trello_items=10)
    plan = Planner(layout, random.Random(11)).plan(DELIVERIES)
    with (
        FaultySlack() as slack,
        FakeGitHub() as github,
        FakeTrello(api_key=TRELLO_KEY, token=TRELLO_TOKEN) as trello,
    ):
        hub = slack.add_channel("makers")
        port = free_port()
        env = settings_env(slack.base_url, github.base_url, trello.base_url, postgres_url, port)
        # The scheduled run of this week (Monday 00:00) has passed: both workers catch it up
        # as they start, and the claim lets only one of them post it.
        env |= {
            "DIGEST_CHANNEL": hub,
            "DIGEST_SCHEDULE": "0 0 * * MON",
            "DIGEST_HOLIDAYS": "none",
            "LOG_LEVEL": "INFO",
        }
        topology = Topology(clean_env(drop=list(Settings.model_fields), **env), tmp_path, port)
        released = topology.release()
        assert released.returncode == 0, released.stderr
        seed(env, [layout], github, trello)
        installed_last_week(postgres_url)
        probe = Probe(postgres_url)
        first, *rest = bursts_of(plan, 3)
        try:
            with topology.start(workers=False):
                slack.rate = FAULT_RATE
                calls_before = len(slack.calls())
                # Web alone stores and acknowledges, and processes nothing.
                sent = send_all(port, [first], layout.items, lanes=8, pause=0)
                time.sleep(1.5)
                assert bad_acks(sent, b"ok") == []
                assert probe.pending()[0] == len(first)
                assert len(slack.calls()) == calls_before
                topology.start_workers()
                more = send_all(port, rest, layout.items, lanes=8, pause=0.3)
                sent.acks += more.acks
                assert bad_acks(sent, b"ok") == []
                last = max(ack.at for ack in sent.acks)
                timings = probe.wait_settled(last, timeout=45)
                time.sleep(0.3)  # a call in flight lands in the fake's record
                problems = topology.log_problems()
            deliveries, unsent, failed = probe.pending()
        finally:
            probe.dispose()
        assert (deliveries, unsent, failed) == (0, 0, 0), topology.log_tail()
        assert timings[1] is not None
        calls = slack.calls()
        item_calls = [c for c in calls[calls_before:] if c.args.get("channel") != hub]
        outcome = analyse(layout, sent, slack, item_calls, calls, 0.0, timings)
        assert outcome.problems == []
        assert sum(slack.injected.values()) > 10  # the faults did happen
        # One digest: one claim for the hub this week, and one message posted under it.
        assert digest_claims(postgres_url, hub) == 1
        digests = [m for m in slack.messages(hub) if meta_key(m).startswith(f"digest:{hub}:")]
        assert len([m for m in digests if m.get("thread_ts") in (None, m["ts"])]) == 1
        assert [p for p in problems if "Traceback" in p or "ERROR" in p] == []
