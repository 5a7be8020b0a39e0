"""Shared helpers for the benchmarks in bench/: the floors, servers and temporary files.

Nothing here talks to anything but 127.0.0.1. Servers run as gunicorn subprocesses the way
the Procfile runs the bot, die with the benchmark (PR_SET_PDEATHSIG) and are stopped by
`Server.stop()`; every socket has a timeout. Load and statistics are in `_load.py`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from flask import Flask
    from slack_bolt import App

ROOT = Path(__file__).resolve().parent.parent
SLACK_PATH = "/slack/events"

# Started instead of gunicorn itself: ask the kernel to SIGTERM this process when the
# benchmark dies (so no server outlives it), then become gunicorn. The flag survives exec.
_BOOTSTRAP = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)  # the parent is already gone\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'gunicorn', *sys.argv[2:]])\n"
)
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


# The floor -----------------------------------------------------------------------------


def bare_bolt(*, process_before_response: bool) -> App:
    """The floor's Bolt app: only acks `/makers`, with the same Bolt and Slack client
    settings as `makersbot.web:create_app()` reads from the environment (SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET, SLACK_API_URL), and no work at all in the listener. Pass the
    real app's `process_before_response`: with False Bolt polls for `ack()` every 10 ms,
    so a floor that differs there measures Bolt's polling, not the bot.
    """
    from slack_bolt import App
    from slack_sdk import WebClient

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    client = WebClient(
        token=os.environ["SLACK_BOT_TOKEN"],
        base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
        timeout=15,
    )
    bolt = App(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        token_verification_enabled=False,
        process_before_response=process_before_response,
        name="bare",
    )
    bolt.command("/makers")(lambda ack: ack())
    return bolt


def bare_app(*, process_before_response: bool) -> Flask:
    """WSGI factory of the floor: `bare_bolt` served as a Bolt app is served with Flask,
    through Bolt's Flask adapter on the bot's route.
    Serve it with gunicorn as `'bench._common:bare_app(process_before_response=True)'`
    (ROOT on PYTHONPATH; gunicorn evaluates literal arguments of a factory).
    """
    from flask import Flask, request
    from flask.typing import ResponseReturnValue
    from slack_bolt.adapter.flask import SlackRequestHandler

    app = Flask("bare")
    handler = SlackRequestHandler(bare_bolt(process_before_response=process_before_response))

    @app.post(SLACK_PATH)
    def slack_events() -> ResponseReturnValue:
        return handler.handle(request)

    return app


def bare_slack_front(*, process_before_response: bool) -> Any:
    """ASGI factory of the like-for-like floor: `bare_bolt` behind the bot's own Slack front
    (makersbot/slack_front.py: the signature checked on the raw bytes by `SlackEndpoint`,
    one thread hand-over, buffered as the web line serves the bot). It pays the same HTTP
    plumbing as the bot's `/makers` and nothing else."""
    from flask import Flask

    from makersbot.server import asgi
    from makersbot.slack_requests import SlackEndpoint

    bolt = bare_bolt(process_before_response=process_before_response)
    endpoint = SlackEndpoint(bolt, os.environ["SLACK_SIGNING_SECRET"])
    return asgi(Flask("bare-front"), slack=endpoint)


def asgi_of(wsgi_factory: str) -> Any:
    """`module:call()` evaluated, then served as the Procfile's `web` line serves the bot."""
    import importlib

    from makersbot.server import asgi

    module, _, call = wsgi_factory.partition(":")
    factory = eval(call, vars(importlib.import_module(module)))  # noqa: S307 - our own spec
    return asgi(factory)


def github_signed(key: bytes, body: bytes, given: str) -> bool:
    """`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with GITHUB_WEBHOOK_SECRET."""
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode())


def trello_signed(key: bytes, callback: bytes, body: bytes, given: str) -> bool:
    """`X-Trello-Webhook`: base64 HMAC-SHA1 of body + callback URL with TRELLO_API_SECRET."""
    expected = base64.b64encode(hmac.new(key, body + callback, hashlib.sha1).digest())
    return hmac.compare_digest(expected, given.encode())


class BareHmac:
    """The webhook floors' only work: check the signature (`github_signed`,
    `trello_signed`), answer ok or 401. No parsing, no storage. `accept` has the signature
    of `DeliveryService.accept`, for `bare_webhook_front`; `bare_webhook_app` puts the same
    checks behind two Flask routes."""

    def __init__(self) -> None:
        self.github_key = os.environ["GITHUB_WEBHOOK_SECRET"].encode()
        self.trello_key = os.environ["TRELLO_API_SECRET"].encode()
        self.callback = (os.environ["PUBLIC_URL"].rstrip("/") + "/trello/webhook").encode()

    def accept(
        self, name: str, headers: Mapping[str, str], body: bytes, token: str | None = None
    ) -> tuple[int, str]:
        if name == "github":
            ok = github_signed(self.github_key, body, headers.get("x-hub-signature-256", ""))
        else:
            given = headers.get("x-trello-webhook", "")
            ok = trello_signed(self.trello_key, self.callback, body, given)
        return (200, "ok") if ok else (401, "bad signature")


def bare_webhook_app() -> Flask:
    """WSGI factory of the webhook floor: `BareHmac`'s checks behind two Flask routes, then
    200 (401 for a bad signature). The least any Flask app that verifies webhooks pays.
    Serve it with gunicorn as `'bench._common:bare_webhook_app()'` (ROOT on PYTHONPATH).
    """
    from flask import Flask, Response, request

    bare = BareHmac()
    app = Flask("bare-webhooks")

    def answer(ok: bool) -> Response:
        return Response("ok\n" if ok else "bad signature\n", status=200 if ok else 401)

    @app.post("/github/webhook")
    def github_webhook() -> Response:
        given = request.headers.get("X-Hub-Signature-256", "")
        return answer(github_signed(bare.github_key, request.get_data(), given))

    @app.post("/trello/webhook")
    def trello_webhook() -> Response:
        given = request.headers.get("X-Trello-Webhook", "")
        return answer(trello_signed(bare.trello_key, bare.callback, request.get_data(), given))

    return app


def bare_webhook_front() -> Any:
    """ASGI factory of the like-for-like floor: `BareHmac` behind the bot's own webhook front
    (makersbot/webhook_front.py, buffered and threaded as the web line serves the bot), so
    it pays the same HTTP plumbing as the bot's intake and nothing else."""
    from makersbot.server import asgi

    return asgi(bare_webhook_app(), webhooks=BareHmac())


# Servers -------------------------------------------------------------------------------


def clean_env(drop: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """This process's environment without the variables in `drop` (any case), plus `extra`.

    ROOT is put first on PYTHONPATH so the server imports this checkout and `bench`.
    """
    dropped = {name.upper() for name in drop}
    env = {k: v for k, v in os.environ.items() if k.upper() not in dropped}
    paths = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra)
    return env


@dataclass(frozen=True)
class Gunicorn:
    """The gunicorn settings a server runs with; a benchmark gives its floor the same."""

    worker_class: str = "gthread"
    threads: int = 8
    workers: int = 2
    bot: str = "makersbot.web:create_app()"  # the app spec the line serves the bot with

    def args(self) -> list[str]:
        """The command-line options that set these."""
        lifespan = ["--asgi-lifespan", "off"] if self.worker_class == "asgi" else []
        return [
            *("--worker-class", self.worker_class),
            *("--threads", str(self.threads)),
            *("--workers", str(self.workers)),
            *lifespan,
        ]

    def app(self, wsgi_factory: str) -> str:
        """The app spec gunicorn serves for a WSGI factory `module:call()`: with the `asgi`
        worker, the same factory behind the bot's buffering front (makersbot.server.asgi)."""
        if self.worker_class != "asgi":
            return wsgi_factory
        return f"bench._common:asgi_of({wsgi_factory!r})"

    def describe(self) -> str:
        return f"gunicorn {self.worker_class} {self.workers} worker(s) x {self.threads} threads"


def procfile_web(procfile: Path = ROOT / "Procfile") -> Gunicorn:
    """The worker class, threads, workers and app (its last word) of the Procfile's `web` line.

    `${VAR:-default}` counts as its default (WEB_CONCURRENCY is unset on a fresh
    deployment); options the line leaves out keep gunicorn's own defaults.
    """
    line = next((ln for ln in procfile.read_text().splitlines() if ln.startswith("web:")), "web:")
    argv = shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", line.removeprefix("web:")))
    if not argv or Path(argv[0]).name != "gunicorn":
        # The benchmarks serve with gunicorn to match production: revisit them if it changes.
        raise RuntimeError(f"{procfile}: the web line no longer runs gunicorn: {line!r}")
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-k", "--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-w", "--workers", type=int, default=1)
    known, _ = parser.parse_known_args(argv[1:])
    return Gunicorn(known.worker_class, known.threads, known.workers, argv[-1])


class ServerProcess:
    """What every benchmarked server shares: its process id, a graceful stop, and `with`."""

    name = "server"
    stop_timeout = 10.0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server (gunicorn master) process id."""
        if self._proc is None:
            raise RuntimeError(f"{self.name}: not started")
        return self._proc.pid

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it has not gone after `stop_timeout`."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Server(ServerProcess):
    """A gunicorn server of one WSGI app with the given settings, on a free 127.0.0.1 port.

    The server's log goes to a file in `workdir` (shown when it fails to start); the
    working directory is `workdir`, so no `.env` of the checkout is read.
    """

    def __init__(
        self,
        name: str,
        app: str,
        env: Mapping[str, str],
        workdir: Path,
        *,
        gunicorn: Gunicorn,
        start_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.app = app
        self.env = dict(env)
        self.workdir = workdir
        self.gunicorn = gunicorn
        self.start_timeout = start_timeout
        self.log_path = workdir / f"gunicorn-{name}.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        """Start gunicorn and wait until its worker answers HTTP."""
        args = [
            *self.gunicorn.args(),
            *("--bind", "127.0.0.1:0", "--graceful-timeout", "5", "--no-control-socket"),
            *("--log-level", "info", "--error-logfile", "-", self.app),
        ]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, str(os.getpid()), *args],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited early\n{self.log_tail()}")
            if not self.port:
                found = _LISTENING.search(self.log_path.read_text(errors="replace"))
                self.port = int(found[1]) if found else 0
            if self.port and self._answers():
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name}: not ready in {self.start_timeout:.0f}s\n{self.log_tail()}"
        )

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/")  # any answer (a 404 is fine) means a worker is serving
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        """Process ids of the master's children (the gunicorn workers)."""
        return children_of(self.pid)

    def peak_rss_kib(self) -> int:
        """Peak resident memory (VmHWM) of the worker serving requests, in KiB.

        With several workers, the largest; the master (which loads no app) is left out.
        """
        return max(peak_rss_kib(pid) for pid in self.worker_pids())

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (read from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry))
    return children


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time so far of the live processes among `pids` (read from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it has exited
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a live process in KiB (the resident-set high-water mark)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory removed when the benchmark ends, even after an error."""
    return tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True)


def use_shared_secrets(bot: Any) -> None:
    """Let the links take deliveries signed with the app-wide secrets.

    The plan signs every delivery before the links exist, with GITHUB_WEBHOOK_SECRET and
    the old `/trello/webhook` callback: the fallback that links made before per-link
    secrets use. Verifying it costs the same HMAC (and no database read), so the figures
    are, if anything, a little kind to intake.
    """
    from sqlalchemy import update

    from makersbot.store.models import Link

    with bot.db.session() as session:
        session.execute(update(Link).values(webhook_secret=None, callback_token=None))
