"""Hostile clients against the served bot: slow sockets, then a flood of slash commands.

Serves the bot as production does, `makersbot serve` and the Procfile's `web:` line (its
exact command, with only the bind address moved to 127.0.0.1), each against a FakeSlack
and a temporary SQLite database (or `--database-url`). Against each server in turn:

1. **slow sockets**: opens `--slow` connections that never finish a request, a quarter of
   each kind: *silent* (connects, sends nothing), *half-line* (sends half a request line
   and waits), *slow-headers* (sends its request line and headers one byte a second),
   *slow-body* (complete headers announcing a 4 KiB body, then one byte a second). While
   they stay open, sends `--probes` signed `/makers help` commands and `GET /healthz`, one
   after the other, each on a new connection as Slack does; the goal is every answer
   within 1 s.
2. **flood**: `--flood` signed `/makers list` commands, all started at the same instant,
   each on its own new connection (connect + request + response timed, as Slack's 3 s
   deadline counts); the goal is every answer, 200, within 3 s.
3. **flood under siege**: the flood again while the slow sockets of step 1 stay open.

`--servers` picks what to measure: `serve`, `web` (the Procfile line), and `gthread`, the
Procfile line this bot had before (gunicorn gthread, 8 threads, 2 workers), kept for the
before/after figures. Goals are printed, never asserted; the run fails (exit 1) only when
the benchmark cannot run.

Run: `.venv/bin/python bench/hostile.py` (or `make bench`); `--help` lists the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, ServerProcess, clean_env, temp_dir  # noqa: E402
from bench._load import ms, percentile  # noqa: E402

TOKEN = "xoxb-bench"
SECRET = "benchsecret"
OLD_WEB = (
    "gunicorn --worker-class gthread --threads 8 --workers ${WEB_CONCURRENCY:-2} "
    "--bind 0.0.0.0:$PORT 'makersbot.web:create_app()'"
)
SLOW_KINDS = ("silent", "half-line", "slow-headers", "slow-body")

# `makersbot serve` exactly as `cli.main(["serve"])` runs it, bound to 127.0.0.1, and
# SIGTERMed by the kernel when the benchmark dies (PR_SET_PDEATHSIG).
_SERVE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "from makersbot import cli, server\n"
    "server.BIND_HOST = '127.0.0.1'\n"
    "sys.exit(cli.main(['serve']))\n"
)
# A Procfile line run by the shell (as a platform does), with the same death signal.
_PROCFILE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execvp('sh', ['sh', '-c', 'exec ' + sys.argv[2]])\n"
)


def procfile_web() -> str:
    """The `web:` line of the Procfile, bound to 127.0.0.1 instead of 0.0.0.0."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip().replace("0.0.0.0", "127.0.0.1")
    raise SystemExit("bench/hostile.py: the Procfile has no web: line")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served(ServerProcess):
    """One server under test as a subprocess on a 127.0.0.1 port; stops by itself."""

    stop_timeout = 15.0

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.port = int(env["PORT"])
        self.log_path = workdir / f"{name}.log"
        self._proc = None

    def start(self, timeout: float = 60.0) -> Served:
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", *self.argv],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early\n{self.log_tail()}")
            if health(self.port, 2.0)[0] == 200:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout:.0f}s\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0


def health(port: int, timeout: float) -> tuple[int, float]:
    """(status, seconds) of one `GET /healthz` on a new connection; status 0 on failure."""
    began = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - began
    except (OSError, http.client.HTTPException):
        return 0, time.perf_counter() - began
    finally:
        conn.close()


# Requests ----------------------------------------------------------------------------------


def signed_command(text: str, n: int) -> bytes:
    """A whole HTTP/1.1 request: a signed `/makers <text>` with a unique trigger_id."""
    from tests.fakes.signing import slack_headers, slash_command_body

    body = slash_command_body(
        text=text, trigger_id=f"bench.{n}.{time.time_ns()}", response_url="http://127.0.0.1:9/"
    ).encode()
    headers = slack_headers(SECRET, body)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST /slack/events HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{head}\r\n"
    ).encode() + body


async def _exchange(port: int, request: bytes, timeout: float) -> tuple[int, float, str]:
    """Connect, send, read the whole answer: (status, seconds, error)."""
    began = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            answer = await reader.read()  # Connection: close
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
        return status, time.perf_counter() - began, "" if status else "no HTTP answer"
    except (OSError, TimeoutError, ValueError, IndexError) as exc:
        return 0, time.perf_counter() - began, type(exc).__name__
    finally:
        if writer is not None:
            writer.close()


def flood(port: int, count: int, timeout: float) -> list[tuple[int, float, str]]:
    """`count` signed `/makers list` commands started at once, each on a new connection."""
    requests = [signed_command("list", n) for n in range(count)]

    async def run() -> list[tuple[int, float, str]]:
        return list(await asyncio.gather(*(_exchange(port, r, timeout) for r in requests)))

    return asyncio.run(run())


def probe(port: int, count: int, timeout: float) -> tuple[list[float], list[str]]:
    """`count` signed `/makers help` and `GET /healthz`, one at a time: latencies, errors."""
    latencies, errors = [], []
    for n in range(count):
        status, took, error = asyncio.run(_exchange(port, signed_command("help", n), timeout))
        latencies.append(took)
        if status != 200:
            errors.append(f"help: {status or error}")
        status, took = health(port, timeout)
        latencies.append(took)
        if status != 200:
            errors.append(f"healthz: {status or 'no answer'}")
    return latencies, errors


# Slow sockets ------------------------------------------------------------------------------


class SlowClients:
    """Connections that never complete a request; trickling ones send a byte a second."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets: list[tuple[str, socket.socket, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, name="trickle", daemon=True)
        body_head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"
        headers = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Slack-Signature: v0=" + b"0" * 4000
        for n in range(count):
            kind = SLOW_KINDS[n % len(SLOW_KINDS)]
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if kind == "half-line":
                sock.sendall(b"POST /slack/ev")
            elif kind == "slow-body":
                sock.sendall(body_head)
            pending = headers if kind == "slow-headers" else b"x" * 4096
            self.sockets.append((kind, sock, pending if kind.startswith("slow") else b""))
        self._thread.start()

    def _trickle(self) -> None:
        step = 0
        while not self._stop.wait(1.0):
            for _kind, sock, pending in self.sockets:
                if step < len(pending):
                    try:
                        sock.send(pending[step : step + 1])
                    except OSError:
                        pass  # the server closed it: that is its right
            step += 1

    def still_open(self) -> int:
        """How many of the slow sockets the server has not closed yet."""
        alive = 0
        for _kind, sock, _pending in self.sockets:
            try:
                sock.setblocking(False)
                alive += sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return alive

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for _kind, sock, _pending in self.sockets:
            sock.close()


# The run -----------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    probe: list[float]
    probe_errors: list[str]
    flood: list[tuple[int, float, str]]
    siege: list[tuple[int, float, str]]
    slow_open: int
    log_bytes: int


def flood_line(results: list[tuple[int, float, str]]) -> str:
    took = [t for _s, t, _e in results]
    late = sum(1 for s, t, _e in results if s != 200 or t > 3.0)
    bad = sum(1 for s, _t, _e in results if s != 200)
    return (
        f"p50 {ms(percentile(took, 50))} ms p99 {ms(percentile(took, 99))} ms "
        f"max {ms(max(took))} ms | over 3 s or failed: {late} (not 200: {bad})"
    )


def measure(server: Served, args: argparse.Namespace) -> Figures:
    """The three steps against one started server."""
    flood(server.port, 20, 10)  # warm-up: Bolt's first requests, pools, caches
    slow = SlowClients(server.port, args.slow)
    try:
        time.sleep(args.settle)  # let trickles start and the server take the sockets in
        latencies, errors = probe(server.port, args.probes, 10)
        siege = flood(server.port, args.flood, 15)
        slow_open = slow.still_open()
    finally:
        slow.close()
    time.sleep(1.0)
    calm = flood(server.port, args.flood, 15)
    return Figures(server.name, latencies, errors, calm, siege, slow_open, server.log_size())


def report(figures: Figures, args: argparse.Namespace) -> None:
    p = figures.probe
    worst = max(p)
    print(
        f"[{figures.name}] {args.slow} slow sockets: help/healthz p50 {ms(percentile(p, 50))} ms "
        f"max {ms(worst)} ms, errors {len(figures.probe_errors)}"
        f"{' ' + '; '.join(figures.probe_errors[:3]) if figures.probe_errors else ''}"
        f" | slow sockets still open after the run: {figures.slow_open}"
    )
    print(f"[{figures.name}] flood of {args.flood}: {flood_line(figures.flood)}")
    print(
        f"[{figures.name}] flood of {args.flood} with the slow sockets open: "
        f"{flood_line(figures.siege)}"
    )
    met1 = worst <= 1.0 and not figures.probe_errors
    met3 = all(s == 200 and t <= 3.0 for s, t, _e in figures.flood + figures.siege)
    print(
        f"goal [{figures.name}]: answers within 1 s with {args.slow} slow sockets: "
        f"{'met' if met1 else 'missed'} ({ms(worst)} ms); {args.flood} concurrent within 3 s: "
        f"{'met' if met3 else 'missed'}; server log {figures.log_bytes / 1024:.0f} KiB"
    )


def server_for(name: str, env: dict[str, str], workdir: Path, web_line: str = "") -> Served:
    env = dict(env, PORT=str(free_port()))
    if name == "serve":
        return Served(name, [_SERVE, str(os.getpid())], env, workdir)
    line = procfile_web() if name == "web" else OLD_WEB.replace("0.0.0.0", "127.0.0.1")
    if name == "web" and web_line:
        line = web_line
    return Served(name, [_PROCFILE, str(os.getpid()), line], env, workdir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="serve,web", help="serve, web, gthread (old)")
    parser.add_argument("--slow", type=int, default=200, help="slow sockets held open")
    parser.add_argument("--probes", type=int, default=10, help="commands sent past them")
    parser.add_argument("--flood", type=int, default=500, help="commands started at once")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before probing")
    parser.add_argument("--web-line", default="", help="measure this command as `web`")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)

    from makersbot.db import Database
    from makersbot.settings import Settings
    from tests.fakes.slack import FakeSlack

    print(
        f"bench/hostile.py: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"web line: {procfile_web()}"
    )
    with temp_dir("makersbot-hostile-") as tmp, FakeSlack() as fake:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        Database(url).upgrade()
        bin_dir = str(Path(sys.executable).parent)
        env = clean_env(
            drop=list(Settings.model_fields),
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.base_url,
            DATABASE_URL=url,
            LOG_LEVEL="INFO",
            WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"),
            PATH=bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        )
        for name in filter(None, re.split(r"[,\s]+", args.servers)):
            if name not in ("serve", "web", "gthread"):
                raise SystemExit(f"bench/hostile.py: unknown server {name}")
            with server_for(name, env, workdir, args.web_line) as server:
                if name != "serve":
                    print(f"[{name}] {server.argv[2]}")
                report(measure(server, args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
