"""Wall and CPU time of one-shot CLI commands, each a fresh process as a user runs them.

Usage: .venv/bin/python benchmarks/cli_startup.py [--runs 5]

Times `moderation --help`, `moderation check FILE` (a generated 400x300 noise JPEG, classifier enabled,
no open_clip weights, hub offline: a fresh install without internet) and `moderation notice list`, each
in a fresh data directory after one untimed warm-up run (which migrates it). Prints the median and the
best of `--runs` runs for wall time and for user+system CPU time of the child process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "moderation", *args], env=env, cwd=ROOT, check=True, capture_output=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        image = base / "noise.jpg"
        pixels = (np.random.default_rng(7).random((300, 400, 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(image)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        env.update(
            {
                "MODERATION_DATA_DIR": str(base / "data"),
                "MODERATION_CLASSIFIER_ENABLED": "true",
                "HF_HUB_OFFLINE": "1",
                "HF_HOME": str(base / "hf"),
                "HOME": str(base / "home"),
            }
        )
        commands = {
            "moderation --help": ["--help"],
            "moderation check FILE": ["check", str(image)],
            "moderation notice list": ["notice", "list"],
        }
        print(machine())
        for label, args in commands.items():
            _run(args, env)
            runs = [_run(args, env) for _ in range(options.runs)]
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"{label:24s} wall median {statistics.median(walls):5.2f} s best {min(walls):5.2f} s | "
                f"CPU median {statistics.median(cpus):5.2f} s best {min(cpus):5.2f} s"
            )
        print(machine())


if __name__ == "__main__":
    main()
