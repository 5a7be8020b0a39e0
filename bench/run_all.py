"""Run every benchmark in bench/ in turn (`make bench`), failing if any of them fails.

A benchmark is any `bench/*.py` except this runner and modules whose name starts with `_`
(shared helpers such as `_common.py`). Each runs as its own subprocess with this
interpreter and the repository as working directory; its output streams through as it
comes. Name benchmarks to run only those: `python bench/run_all.py ack`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def benchmarks(names: Sequence[str] = ()) -> list[Path]:
    """The benchmark scripts, sorted by name; only those in `names` when given."""
    found = sorted(
        path
        for path in BENCH.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )
    if not names:
        return found
    wanted = {name.removesuffix(".py") for name in names}
    unknown = wanted - {path.stem for path in found}
    if unknown:
        raise SystemExit(f"run_all: no benchmark called {', '.join(sorted(unknown))}")
    return [path for path in found if path.stem in wanted]


def run(script: Path, timeout: float) -> tuple[bool, float]:
    """Run one benchmark; (succeeded, seconds taken).

    Past `timeout` it gets SIGTERM (so it can stop its servers and remove its files),
    then SIGKILL 15 s later.
    """
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT)
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"{script.name}: stopped after {timeout:.0f} s", flush=True)
        return False, time.monotonic() - began
    except BaseException:  # Ctrl-C: do not leave the benchmark running
        proc.terminate()
        proc.wait(timeout=15)
        raise
    if status != 0:
        print(f"{script.name}: exited with status {status}", flush=True)
    return status == 0, time.monotonic() - began


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per benchmark"
    )
    args = parser.parse_args(argv)
    scripts = benchmarks(args.names)
    if not scripts:
        print("run_all: no benchmarks in bench/")
        return 0
    results = []
    for script in scripts:
        print(f"== bench/{script.name}", flush=True)
        ok, seconds = run(script, args.timeout)
        results.append((script.name, ok, seconds))
        print(
            f"== bench/{script.name}: {'ok' if ok else 'FAILED'} in {seconds:.1f} s\n", flush=True
        )
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        print(f"run_all: {len(failed)} of {len(results)} failed: {', '.join(failed)}")
        return 1
    print(f"run_all: all {len(results)} benchmark(s) passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
