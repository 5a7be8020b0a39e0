"""The Procfile topology on this machine: `release`, then `web` and N `worker` processes.

Each line of the repository's Procfile is run the way a Procfile runner (Heroku, honcho,
Dokku) runs it: by `sh -c` with the environment, so `$PORT` and `${WEB_CONCURRENCY:-2}` are
expanded by the shell. One change only: `0.0.0.0` becomes `127.0.0.1`, so nothing listens
beyond loopback. Every process dies with the caller (PR_SET_PDEATHSIG) and is stopped with
SIGTERM, then SIGKILL, by process group.

`Probe` reads what is left to do straight from the database (PostgreSQL or SQLite):
deliveries not processed yet and outbox messages not sent yet.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import create_engine, text

from bench._common import ROOT, children_of, cpu_seconds

# Become `sh -c LINE` after asking the kernel to SIGTERM us when the caller dies.
_BOOT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execvp('sh', ['sh', '-c', 'exec ' + sys.argv[2]])\n"
)
ROLES = ("release", "web", "worker")


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """The Procfile's lines by process type; raises when `release`, `web` or `worker` is
    missing (the topology and its test would no longer be the deployed one)."""
    lines: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        name, sep, command = raw.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            lines[name.strip()] = command.strip()
    missing = [role for role in ROLES if role not in lines]
    if missing:
        raise RuntimeError(f"{path}: no {', '.join(missing)} line")
    return lines


def loopback(command: str) -> str:
    """A Procfile command with every all-interfaces bind moved to 127.0.0.1."""
    return re.sub(r"\b0\.0\.0\.0\b", "127.0.0.1", command)


def command_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with this interpreter's bin directory first on PATH (gunicorn, makersbot)."""
    path = [str(Path(sys.executable).parent), *env.get("PATH", os.defpath).split(os.pathsep)]
    return {**env, "PATH": os.pathsep.join(dict.fromkeys(path))}


class Topology:
    """`release`, `web` and `workers` × `worker` as the Procfile says, on one port."""

    def __init__(
        self, env: Mapping[str, str], workdir: Path, port: int, *, workers: int = 2
    ) -> None:
        self.lines = procfile()
        self.env = command_env({**env, "PORT": str(port)})
        self.workdir = workdir
        self.port = port
        self.workers = workers
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._spawned: dict[str, float] = {}  # name -> time.monotonic() at start

    def release(self, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run the release line (migrations) to its end."""
        return subprocess.run(
            ["sh", "-c", "exec " + loopback(self.lines["release"])],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _spawn(self, name: str, role: str) -> None:
        self._spawned[name] = time.monotonic()
        log = (self.workdir / f"{name}.log").open("wb")
        with log:
            self._procs[name] = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(os.getpid()), loopback(self.lines[role])],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, timeout: float = 60.0, *, workers: bool = True) -> Self:
        """Start web and (unless `workers` is False) the workers; return once web answers
        and every worker has said it started (or, with a quiet log level, is still running
        after a few seconds)."""
        self._spawn("web", "web")
        if workers:
            return self.start_workers(timeout)
        return self._wait_ready(timeout)

    def start_workers(self, timeout: float = 60.0) -> Self:
        """Start the `worker` processes (web already runs)."""
        for n in range(1, self.workers + 1):
            self._spawn(f"worker{n}", "worker")
        return self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> Self:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                dead = [name for name, proc in self._procs.items() if proc.poll() is not None]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} exited early\n{self.log_tail()}")
                if self.health() is not None and self._workers_started():
                    return self
                time.sleep(0.1)
            raise RuntimeError(f"the Procfile topology was not ready\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _workers_started(self) -> bool:
        for n in range(1, self.workers + 1):
            if f"worker{n}" not in self._procs:
                continue
            log = (self.workdir / f"worker{n}.log").read_text(errors="replace")
            started = "worker started" in log
            if not started and time.monotonic() - self._spawned[f"worker{n}"] < 5:
                return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group (workers first), then SIGKILL what is left."""
        procs, self._procs = self._procs, {}
        for proc in reversed(list(procs.values())):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)

    def __enter__(self) -> Self:
        # `with topology:` starts everything; `with topology.start(workers=False):` only web.
        return self if self._procs else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def health(self) -> dict[str, Any] | None:
        """GET /healthz as JSON (whatever its status), or None when web does not answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            data = json.loads(conn.getresponse().read())
            return data if isinstance(data, dict) else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()

    def pids(self) -> dict[str, list[int]]:
        """Process ids by name; `web` lists the gunicorn master and its workers."""
        found = {}
        for name, proc in self._procs.items():
            found[name] = [proc.pid, *children_of(proc.pid)]
        return found

    def cpu_seconds(self, prefix: str = "") -> float:
        """User + system CPU time so far of the processes whose name starts with `prefix`."""
        pids = self.pids()
        return cpu_seconds(pid for name in pids if name.startswith(prefix) for pid in pids[name])

    def log_tail(self, lines: int = 15) -> str:
        tails = []
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def log_problems(self) -> list[str]:
        """ERROR/CRITICAL lines and tracebacks in every process's log."""
        problems = []
        for path in sorted(self.workdir.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if re.search(r"ERROR|CRITICAL|Traceback", line):
                    problems.append(f"{path.stem}: {line}")
        return problems


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class Probe:
    """What is left to do, read from the database every process shares."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)

    def pending(self) -> tuple[int, int, int]:
        """(deliveries not processed and board summaries not rebuilt, outbox messages not
        sent, deliveries with an error)."""
        with self.engine.connect() as conn:
            deliveries = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM delivery WHERE processed_at IS NULL)"
                    " + (SELECT count(*) FROM stale_summary)"
                )
            ).scalar_one()
            unsent = conn.execute(
                text("SELECT count(*) FROM slack_message WHERE version > sent_version")
            ).scalar_one()
            failed = conn.execute(
                text("SELECT count(*) FROM delivery WHERE error IS NOT NULL")
            ).scalar_one()
        return int(deliveries), int(unsent), int(failed)

    def wait_settled(self, since: float, timeout: float) -> tuple[float | None, float | None]:
        """Poll until no delivery is pending and the outbox is empty (bounded by `timeout`).

        Returns (processed_in, drained_in) in seconds after `since` (a time.time()), None
        for what was not reached.
        """
        processed_in = drained_in = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deliveries, unsent, _ = self.pending()
            if deliveries == 0 and processed_in is None:
                processed_in = time.time() - since
            if deliveries == 0 and unsent == 0:
                drained_in = time.time() - since
                break
            time.sleep(0.2)
        return processed_in, drained_in

    def dispose(self) -> None:
        self.engine.dispose()
