"""Machine description printed by the benchmark scripts (imported as `_machine` when run from the repo root)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or "unknown cpu" where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown cpu"


def machine(load_values: int = 2, digits: int = 1) -> str:
    """Architecture, CPU model, core count and the first `load_values` load averages at `digits` decimals."""
    load = " ".join(f"{value:.{digits}f}" for value in os.getloadavg()[:load_values])
    return f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, load average {load}"
