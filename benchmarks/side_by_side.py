"""Side-by-side load test: this service against a second one (Meta's HMA 2.0, or another moderation).

Runs wrk (a low-overhead C load generator; `apt-get install -y wrk`) against each service in turn,
alternating runs so that both see the same machine load, and prints requests/s, p50/p99 latency, the
load average around each run and, for services whose process id is given, the CPU cores they used.

Two workloads:
- `match`: one PDQ hash per request, a different value each time. moderation: `POST /v1/match`;
  HMA: `GET /m/raw_lookup?signal_type=pdq&signal=HEX` (change with `--hma-match-path`).
- `check`: a 1024x768 JPEG per request (generated, `--images` distinct ones), made unique per request
  by a JPEG comment holding a counter (so no request hits a cache by its SHA-256, while its pixels and
  perceptual hashes stay those of the generated image). moderation: `POST /v1/check` (multipart field
  `file`); HMA: `POST /m/lookup` (multipart field `photo`; see `--hma-check-path`, `--hma-file-field`).

Both services must already be running with the same bank (for example `benchmarks/check_api.py` builds
one; or `moderation bank import` and HMA's `/c/bank/.../signal` of the same file). Example:

    moderation serve --workers 2 &                        # MODERATION_CLASSIFIER_ENABLED=false
    .venv/bin/python benchmarks/side_by_side.py --key mod_... \\
        --moderation http://127.0.0.1:8000 --moderation-pid $(pgrep -of 'moderation serve') \\
        --hma http://127.0.0.1:5000 --hma-pid 1234 --workload match,check --duration 30 --runs 3

Without `--hma`, only moderation is measured (useful for before/after comparisons: give a second
moderation URL as `--hma` with `--hma-kind moderation`).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _machine import machine
from PIL import Image

MATCH_LUA = r"""
local counter = 0
local kind = os.getenv("SBS_KIND")
local path = os.getenv("SBS_PATH")
local key = os.getenv("SBS_KEY") or ""
if kind == "moderation" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end
request = function()
  counter = counter + 1
  local hex = string.format("%016x", (counter * 2654435761) % 4294967296) .. string.rep("a5", 24)
  if kind == "moderation" then
    return wrk.format(nil, "/v1/match", nil, '{"hashes":[{"type":"pdq","value":"' .. hex .. '"}]}')
  end
  return wrk.format("GET", (string.gsub(path, "{hash}", hex)))
end
"""

CHECK_LUA = r"""
local counter = 0
local kind = os.getenv("SBS_KIND")
local path = os.getenv("SBS_PATH")
local fieldname = os.getenv("SBS_FIELD")
local key = os.getenv("SBS_KEY") or ""
local dir = os.getenv("SBS_IMAGES")
local count = tonumber(os.getenv("SBS_COUNT"))
local boundary = "sbsboundary7f3a"
local images = {}
for i = 1, count do
  local f = assert(io.open(dir .. "/" .. i .. ".jpg", "rb"))
  images[i] = f:read("*all")
  f:close()
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
if kind == "moderation" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
local head = "--" .. boundary .. '\r\nContent-Disposition: form-data; name="' .. fieldname ..
  '"; filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
local tail = "\r\n--" .. boundary .. "--\r\n"
request = function()
  counter = counter + 1
  local image = images[(counter % count) + 1]
  -- A COM segment right after SOI: 2 length bytes + 16 digits.
  local stamp = string.format("%016d", counter)
  local body = head .. image:sub(1, 2) .. "\255\254\0\18" .. stamp .. image:sub(3) .. tail
  return wrk.format(nil, path, nil, body)
end
"""


@dataclass
class Target:
    name: str
    url: str
    kind: str  # "moderation" or "hma"
    pid: int | None
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def make_jpegs(count: int, directory: Path, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:768, 0:1024]
    for i in range(count):
        base = np.stack(
            [(x * (0.1 + 0.01 * i) + y * 0.2) % 256, (y * 0.3 + 7 * i) % 256, (x * 0.05) % 256], -1
        )
        noise = rng.normal(0, 12, size=(768, 1024, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB").save(
            buffer, format="JPEG", quality=85
        )
        (directory / f"{i + 1}.jpg").write_bytes(buffer.getvalue())


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (children included when they exit)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(c) for c in children)
    return total


_LATENCY = re.compile(r"^\s+(50|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)


def parse_wrk(output: str) -> dict[str, float]:
    result: dict[str, float] = {}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    result["rps"] = float(rate.group(1)) if rate else 0.0
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for percentile, value, unit in _LATENCY.findall(output):
        result[f"p{percentile}"] = float(value) * scale[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non2xx"] = float(errors.group(1)) if errors else 0.0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = float(sum(map(int, socket.groups()))) if socket else 0.0
    return result


def run_wrk(
    target: Target, workload: str, args: argparse.Namespace, scripts: dict[str, Path]
) -> dict[str, float]:
    env = {
        **os.environ,
        "SBS_KIND": target.kind,
        "SBS_KEY": args.key or "",
        "SBS_IMAGES": str(args.image_dir),
        "SBS_COUNT": str(args.images),
    }
    if workload == "match":
        env["SBS_PATH"] = args.hma_match_path
    else:
        env["SBS_PATH"] = "/v1/check" if target.kind == "moderation" else args.hma_check_path
        env["SBS_FIELD"] = "file" if target.kind == "moderation" else args.hma_file_field
    load_before = os.getloadavg()[0]
    cpu_before = tree_cpu_seconds(target.pid) if target.pid else 0.0
    started = time.monotonic()
    output = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "-s",
            str(scripts[workload]),
            target.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.monotonic() - started
    result = parse_wrk(output)
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()[0]
    if target.pid:
        result["cores"] = (tree_cpu_seconds(target.pid) - cpu_before) / elapsed
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--moderation", required=True, help="URL of the moderation service")
    parser.add_argument("--key", help="a checker API key of the moderation service")
    parser.add_argument("--moderation-pid", type=int, help="pid of `moderation serve` (CPU used)")
    parser.add_argument("--hma", help="URL of the second service (HMA 2.0, or a moderation with --hma-kind)")
    parser.add_argument("--hma-kind", choices=["hma", "moderation"], default="hma")
    parser.add_argument("--hma-pid", type=int, help="pid of the second service's master process (CPU used)")
    parser.add_argument("--hma-match-path", default="/m/raw_lookup?signal_type=pdq&signal={hash}")
    parser.add_argument("--hma-check-path", default="/m/lookup")
    parser.add_argument("--hma-file-field", default="photo")
    parser.add_argument("--workload", default="match,check", help="match, check or both (comma-separated)")
    parser.add_argument("--duration", type=int, default=30, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per service and workload, alternating")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=20, help="distinct generated JPEGs (check workload)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")

    targets = [Target("moderation", args.moderation, "moderation", args.moderation_pid)]
    if args.hma:
        targets.append(
            Target(
                args.hma_kind if args.hma_kind == "hma" else "second", args.hma, args.hma_kind, args.hma_pid
            )
        )
    workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        directory = Path(tmp)
        scripts = {"match": directory / "match.lua", "check": directory / "check.lua"}
        scripts["match"].write_text(MATCH_LUA)
        scripts["check"].write_text(CHECK_LUA)
        args.image_dir = directory / "images"
        args.image_dir.mkdir()
        if "check" in workloads:
            make_jpegs(args.images, args.image_dir)
        print(f"machine: {machine(load_values=3, digits=2)}")
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.runs} alternating runs")
        for workload in workloads:
            for run in range(args.runs):
                for target in targets:
                    result = run_wrk(target, workload, args, scripts)
                    target.runs.setdefault(workload, []).append(result)
                    cores = f", {result['cores']:.2f} cores" if "cores" in result else ""
                    print(
                        f"{workload:5} run {run + 1} {target.name:10}: {result['rps']:8.1f} req/s, "
                        f"p50 {result.get('p50', 0):6.1f} ms, p99 {result.get('p99', 0):6.1f} ms{cores}, "
                        f"non-2xx {result['non2xx']:.0f}, load {result['load_before']:.2f}->{result['load_after']:.2f}",
                        flush=True,
                    )
        print("\nmedians:")
        for workload in workloads:
            for target in targets:
                runs = target.runs.get(workload, [])
                if not runs:
                    continue
                line = (
                    f"{workload:5} {target.name:10}: {statistics.median(r['rps'] for r in runs):8.1f} req/s"
                )
                line += f", p50 {statistics.median(r.get('p50', 0) for r in runs):6.1f} ms"
                line += f", p99 {statistics.median(r.get('p99', 0) for r in runs):6.1f} ms"
                if all("cores" in r for r in runs):
                    line += f", {statistics.median(r['cores'] for r in runs):.2f} cores"
                print(line)


if __name__ == "__main__":
    main()
