"""The benchmarks still run: each at a tiny size, checking what they check, never timing.

Speed is measured by `make bench`, not asserted here. This only keeps the scripts from
rotting (a schema change broke bench/digest.py once), runs their own correctness checks,
and shows that those checks catch a wrong, duplicate or missing message.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench._common import Gunicorn, procfile_web
from bench._mirror.check import check_item, posted_twice
from bench._mirror.layout import make_layout
from makersbot.domain.mirror import ItemView
from makersbot.render_mirror import item_message
from tests.fakes.slack import Call, FakeSlack

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_ack_benchmark_runs_with_every_answer_right() -> None:
    out = run_bench(
        "ack.py",
        "--requests",
        "40",
        "--projects",
        "5",
        "--warmup",
        "4",
        "--rounds",
        "1",
        "--workers",
        "1",
    )
    assert "ack latency (40 requests, 8 concurrent)" in out and "| errors 0" in out
    # The floor is like-for-like: one gunicorn setting and one Bolt setting for both servers.
    web = procfile_web()  # the servers run as the Procfile's web line says (one worker here)
    assert f"gunicorn {web.worker_class} 1 worker(s) x {web.threads} threads and " in out
    assert "process_before_response=True for every server" in out
    # The bot as the Procfile serves it, against both floors: Bolt's Flask adapter, and the
    # same Bolt app behind the bot's own Slack front.
    assert f"real serves {web.bot};" in out and web.bot == "makersbot.server:create_asgi_app()"
    assert "real/bare p50" in out and "real/front p50" in out
    assert "goal: real p99 within 1.3x of the bare Bolt app behind the bot's Slack front" in out


def test_benchmarks_read_the_server_settings_from_the_procfile_web_line(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "release: makersbot db upgrade\n"
        "web: gunicorn --worker-class gthread --threads 8 --workers ${WEB_CONCURRENCY:-2} "
        "--bind 0.0.0.0:$PORT 'makersbot.web:create_app()'\n"
    )
    assert procfile_web(procfile) == Gunicorn(worker_class="gthread", threads=8, workers=2)
    procfile.write_text("web: gunicorn -k gthread -w 3 app:app\n")
    assert procfile_web(procfile) == Gunicorn("gthread", threads=1, workers=3, bot="app:app")
    procfile.write_text("web: uvicorn app:app\n")
    with pytest.raises(RuntimeError, match="no longer runs gunicorn"):
        procfile_web(procfile)


def test_mirror_benchmark_runs_and_ends_in_the_true_state() -> None:
    out = run_bench(
        "mirror.py",
        "--deliveries",
        "100",
        "--bursts",
        "2",
        "--warmup",
        "4",
        "--layouts",
        "spread",
        "--pause",
        "0.2",
    )
    assert "correctness: OK" in out and "final state 100% correct: met" in out


def test_digest_benchmark_runs_on_a_small_history() -> None:
    out = run_bench("digest.py", env={"BENCH_SCALE": "0.01"})
    assert "normal week:" in out and "10x week:" in out


def test_the_mirror_check_passes_the_true_state_and_names_what_differs() -> None:
    item = make_layout("one", concurrency=8).items[0]
    assert (item.source, item.kind) == ("github", "issue")
    item.opened, item.state, item.labels, item.people, item.comments = (
        True,
        "open",
        ["bug"],
        ["ben-camden"],
        2,
    )
    shown = ItemView(
        source="github",
        kind="issue",
        number=item.number,
        title=item.title,
        url=item.url,
        state="open",
        closed=False,
        deleted=False,
        container_name=item.container_name,
        labels=("bug",),
        people=("ben-camden",),
        due=None,
        comments=2,
        last_change="commented by ben-camden",
        last_change_at=None,
    )

    def check(view: ItemView) -> str | None:
        return check_item(item, {"blocks": item_message(view).blocks})

    assert check(shown) is None
    wrong: list[tuple[str, dict[str, Any]]] = [
        ("headline", {"title": "Another title"}),
        ("headline", {"state": "closed", "closed": True}),
        ("context", {"container_name": "makers-bench/elsewhere"}),
        ("labels", {"labels": ("bug", "security")}),
        ("people", {"people": ()}),
        ("comments", {"comments": 1}),
    ]
    for what, change in wrong:
        why = check(dataclasses.replace(shown, **change))
        assert why is not None and what in why, (change, why)
    assert check_item(item, None) == "no message"


def test_the_mirror_check_finds_a_message_posted_twice() -> None:
    def post(key: str, *, failed: bool = False) -> Call:
        args = {"channel": "C1", "metadata": {"event_payload": {"key": key}}}
        return Call("chat.postMessage", args, {}, 0.0, failed=failed)

    once = [post("item:1:a"), post("item:1:b"), post("item:1:a", failed=True)]
    assert posted_twice(once) == []
    assert posted_twice([*once, post("item:1:b")]) == [
        "1 message(s) posted twice, e.g. ['item:1:b']"
    ]


def test_hostile_benchmark_runs_against_serve_and_the_procfile_web_line() -> None:
    out = run_bench(
        "hostile.py", "--slow", "8", "--probes", "1", "--flood", "10", "--settle", "0.5"
    )
    assert "goal [serve]" in out and "goal [web]" in out
    # Every command answered 200 (how fast is the benchmark's to print, not the test's).
    assert out.count("(not 200: 0)") == 4


def test_catalogue_benchmark_runs_on_a_small_network() -> None:
    out = run_bench("catalogue.py", "--requests", "5", env={"BENCH_SCALE": "0.01"})
    assert "council page     busy" in out and "goal: p99 under 200 ms for every page" in out


def test_both_webhook_floors_check_the_same_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Flask floor and the like-for-like one behind the webhook front answer alike."""
    from bench._common import bare_webhook_app, bare_webhook_front
    from tests.asgi_helpers import call
    from tests.fakes.signing import github_signature, trello_headers

    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "gh-secret")
    monkeypatch.setenv("TRELLO_API_SECRET", "tr-secret")
    monkeypatch.setenv("PUBLIC_URL", "https://bot.example")
    body = b'{"action": "opened"}'
    good = {"X-Hub-Signature-256": github_signature("gh-secret", body)}
    trello = trello_headers("tr-secret", body, "https://bot.example/trello/webhook")
    requests = [
        ("/github/webhook", good),
        ("/github/webhook", {"X-Hub-Signature-256": github_signature("other", body)}),
        ("/trello/webhook", trello),
        ("/trello/webhook", {**trello, "X-Trello-Webhook": "AAAA"}),
    ]
    flask, front = bare_webhook_app().test_client(), bare_webhook_front()
    answers = []
    for path, headers in requests:
        expected = flask.post(path, data=body, headers=headers)
        status, _, text = call(front, "POST", path, body, headers)
        assert (status, text) == (expected.status_code, expected.data), path
        answers.append(status)
    assert answers == [200, 401, 200, 401]


def test_both_ack_floors_ack_alike(monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack) -> None:
    """The floor behind Bolt's Flask adapter and the like-for-like one behind the bot's Slack
    front both answer a signed `/makers` with an empty 200, and refuse a bad signature."""
    from bench._common import bare_app, bare_slack_front
    from tests.asgi_helpers import call
    from tests.fakes.signing import slack_headers, slash_command_body

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-floor")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "floor-secret")
    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    body = slash_command_body(command="/makers", text="list").encode()
    flask = bare_app(process_before_response=True).test_client()
    front = bare_slack_front(process_before_response=True)
    for secret, status in (("floor-secret", 200), ("other-secret", 401)):
        headers = slack_headers(secret, body)
        expected = flask.post("/slack/events", data=body, headers=headers)
        answer = call(front, "POST", "/slack/events", body, headers)
        assert (answer[0], expected.status_code) == (status, status), secret
        if status == 200:
            assert answer[2] == expected.data == b""
