"""Robust stay-down evaluation: recall per re-upload transformation and false matches among distinct images.

Usage: python benchmarks/robust_matching.py [ORIGINALS] [DISTINCT]   (defaults 100 and 500)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.evaluation import evaluate


def main() -> None:
    originals = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    distinct = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    start = time.perf_counter()
    report = evaluate(originals, distinct, seed=2026, progress=lambda m: print(m, file=sys.stderr))
    print(report.table())
    print()
    print(report.summary())
    print(f"elapsed: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
