"""The benchmarks still run: each at a tiny size, checking what they check, never timing.

Speed is measured by `make bench`, not asserted here. This only keeps the scripts from
rotting (a schema change broke bench/digest.py once) and runs their own correctness checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_catalogue_benchmark_runs_on_a_small_network() -> None:
    out = run_bench("catalogue.py", "--requests", "5", env={"BENCH_SCALE": "0.01"})
    assert "council page     busy" in out and "goal: p99 under 200 ms for every page" in out
