"""Side-by-side load test: this service against a second one (Meta's HMA 2.0, or another moderation).

Runs wrk (a low-overhead C load generator; `apt-get install -y wrk`) against each service in turn,
alternating runs so that both see the same machine load, and prints requests/s, p50/p99 latency, the
load average around each run and, for services whose process id is given, the CPU cores they used.

Two workloads:
- `match`: one PDQ hash per request, a different value each time (none in the bank). moderation:
  `POST /v1/match`; HMA: `GET /m/raw_lookup?signal_type=pdq&signal=HEX` (change with `--hma-match-path`).
- `check`: a 1024x768 JPEG per request (generated, `--images` distinct ones, PDQ quality 100: HMA
  answers 400 `invalid signal` for an image whose PDQ quality is under 50, so flat or smooth test images
  measure its error path), made unique per request by a JPEG comment holding a counter (so no request
  hits a cache by its SHA-256, while its pixels and perceptual hashes stay those of the generated image).
  moderation: `POST /v1/check` (multipart field `file`); HMA: `POST /m/lookup` (multipart field `photo`,
  the content type; see `--hma-check-path`, `--hma-file-field`).

Before any run, a preflight sends one request of each workload to each service and stops unless every
answer is a 200 of the expected shape; with `--bank-file` (the file both banks were loaded from) it also
checks that each service matches two banked hashes (first and middle line, exact) and one at PDQ distance
20 from a banked hash, and matches no random hash.

"cores" is the CPU time of the service's process tree (the given pid, its children and their threads,
children already reaped included) per second of the run. HMA and a moderation on PostgreSQL also spend
CPU in PostgreSQL's backend processes (HMA queries it on every lookup, for its signal type settings):
`--hma-db NAME` / `--moderation-db NAME` add "db" cores, the CPU of the backends connected to that
database (listed from `pg_stat_activity` through `psql`, see `--psql`) during the run; "ms CPU/req"
is their sum over the requests served, the figure least bent by a loaded machine.

Setting both services up with the same bank: `benchmarks/hma_setup.sh` (HMA 2.0 from a checkout of
facebook/ThreatExchange in its own virtualenv and PostgreSQL database, gunicorn with 2 sync workers,
and `moderation serve --workers 2` on SQLite). The bank file:

    .venv/bin/python benchmarks/side_by_side.py --make-bank /work/hma/bank-1m.txt --bank-size 1000000

Then, both services running:

    .venv/bin/python benchmarks/side_by_side.py --key mod_... --bank-file /work/hma/bank-1m.txt \\
        --moderation http://127.0.0.1:8000 --moderation-pid $(cat /tmp/sbs-mod/serve.pid) \\
        --hma http://127.0.0.1:5100 --hma-pid $(cat /work/hma/gunicorn.pid) --hma-db hma \\
        --workload match,check --duration 30 --runs 3

Without `--hma`, only moderation is measured (useful for before/after comparisons: give a second
moderation URL as `--hma` with `--hma-kind moderation`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _machine import machine
from PIL import Image, ImageDraw

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
-- The counter starts at SBS_SEED (new for every run) plus 10^12 per wrk thread: a stamp is never sent
-- twice, in this run or any earlier one, so no check can be answered from moderation's cache.
local counter = tonumber(os.getenv("SBS_SEED") or "0")
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  counter = counter + (tid or 0) * 1000000000000
end
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
    database: str | None = None  # PostgreSQL database whose backends' CPU is counted as "db"
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def make_jpegs(count: int, directory: Path, seed: int = 3) -> list[int]:
    """`count` distinct 1024x768 JPEGs (gradient, 40 random shapes, noise); returns their PDQ qualities.

    The shapes give PDQ quality 100 (a gradient with noise alone gives ~30, under the 50 below which HMA
    refuses to look a PDQ hash up)."""
    from moderation.hashing.hashers import pdq_of  # pdqhash, as HMA's PDQ hasher

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:768, 0:1024]
    qualities = []
    for i in range(count):
        base = np.stack(
            [(x * (0.1 + 0.01 * i) + y * 0.2) % 256, (y * 0.3 + 7 * i) % 256, (x * 0.05) % 256], -1
        )
        image = Image.fromarray(base.astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(40):
            left, top = int(rng.integers(0, 1024)), int(rng.integers(0, 768))
            width, height = int(rng.integers(40, 300)), int(rng.integers(40, 300))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
            shape([left, top, left + width, top + height], fill=colour)
        noise = rng.normal(0, 12, size=(768, 1024, 3))
        pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=85)
        (directory / f"{i + 1}.jpg").write_bytes(buffer.getvalue())
        qualities.append(pdq_of(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))[1])
    return qualities


def write_bank(path: Path, size: int, seed: int = 5) -> None:
    """`size` random PDQ hashes, one lowercase hex value a line (`moderation bank import --format
    pdq-hex`; HMA's signal_val). The same seed gives the same file."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for _ in range(size):
            handle.write(f"{rng.getrandbits(256):064x}\n")


def _proc_cpu_seconds(pid: int, with_reaped_children: bool) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (all threads)
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children it has waited for
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its descendants: every thread's, and those of children already
    reaped (a worker restarted during the run still counts). Children are found through every thread
    (a child forked by another thread than the main one is listed under that thread)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += _proc_cpu_seconds(current, with_reaped_children=True)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def backend_pids(psql: str, database: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to `database` (from pg_stat_activity)."""
    query = f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    output = subprocess.run(
        [*shlex.split(psql), "-Atc", query], capture_output=True, text=True, check=True
    ).stdout
    return [int(line) for line in output.split()]


def pids_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += _proc_cpu_seconds(pid, with_reaped_children=False)
        except (OSError, ValueError):
            continue  # a backend that ended during the run: its last seconds are lost
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
        # Milliseconds since the epoch x 1000: runs at least a second apart never share a stamp.
        "SBS_SEED": str(int(time.time() * 1000) * 1000),
    }
    if workload == "match":
        env["SBS_PATH"] = args.hma_match_path
    else:
        env["SBS_PATH"] = "/v1/check" if target.kind == "moderation" else args.hma_check_path
        env["SBS_FIELD"] = "file" if target.kind == "moderation" else args.hma_file_field
    backends = backend_pids(args.psql, target.database) if target.database else []
    load_before = os.getloadavg()[0]
    cpu_before = tree_cpu_seconds(target.pid) if target.pid else 0.0
    db_before = pids_cpu_seconds(backends)
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
    if target.database:
        result["db_cores"] = (pids_cpu_seconds(backends) - db_before) / elapsed
    return result


def cpu_text(result: dict[str, float]) -> str:
    """ ", 0.52 cores + db 0.03 (2.8 ms CPU/req)": the cores used and the CPU time per request, which
    says more than req/s on a loaded machine (a service that gets less CPU serves fewer requests)."""
    if "cores" not in result:
        return ""
    text = f", {result['cores']:.2f} cores"
    total = result["cores"]
    if "db_cores" in result:
        text += f" + db {result['db_cores']:.2f}"
        total += result["db_cores"]
    if result.get("rps"):
        text += f" ({1000 * total / result['rps']:.1f} ms CPU/req)"
    return text


def _request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw[:200]


def lookup_hash(target: Target, value: str, args: argparse.Namespace) -> list[object]:
    """The matches one service returns for one PDQ hash (exits on a non-200 answer or another shape)."""
    if target.kind == "moderation":
        status, body = _request(
            f"{target.url}/v1/match",
            "POST",
            json.dumps({"hashes": [{"type": "pdq", "value": value}]}).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {args.key}"},
        )
        ok = status == 200 and isinstance(body, dict) and isinstance(body.get("results"), list)
        matches = body["results"][0]["matches"] if ok else None  # type: ignore[index]
    else:
        status, body = _request(target.url + args.hma_match_path.replace("{hash}", value))
        ok = status == 200 and isinstance(body, dict) and isinstance(body.get("matches"), list)
        matches = body["matches"] if ok else None  # type: ignore[index]
    if not ok or not isinstance(matches, list):
        sys.exit(f"preflight: {target.name} hash lookup answered {status}: {body!r}")
    return matches


def check_image(target: Target, data: bytes, args: argparse.Namespace) -> str:
    """One image check; a short description of the answer (exits unless it is a 200 of the right shape)."""
    boundary = "sbspreflight"
    name = "file" if target.kind == "moderation" else args.hma_file_field
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if target.kind == "moderation":
        headers["Authorization"] = f"Bearer {args.key}"
        status, answer = _request(f"{target.url}/v1/check", "POST", body, headers)
        if status == 200 and isinstance(answer, dict) and "decision" in answer:
            return f"decision {answer['decision']}, pdq quality {answer['hashes']['pdq_quality']}"
    else:
        status, answer = _request(target.url + args.hma_check_path, "POST", body, headers)
        if status == 200 and isinstance(answer, dict) and isinstance(answer.get("pdq"), dict):
            return f"pdq matches by bank {answer['pdq']}"
    sys.exit(f"preflight: {target.name} image check answered {status}: {answer!r}")


def preflight(targets: list[Target], workloads: list[str], args: argparse.Namespace) -> None:
    """Exit unless every service answers each workload, and (with --bank-file) finds the banked hashes."""
    if args.bank_file:
        lines = Path(args.bank_file).read_text().split()
        banked = [lines[0].lower(), lines[len(lines) // 2].lower()]
        near = f"{int(banked[0], 16) ^ ((1 << 20) - 1):064x}"  # 20 bits flipped: distance 20 <= 31
        unbanked = f"{random.getrandbits(256):064x}"
        for target in targets:
            found = [len(lookup_hash(target, value, args)) for value in [*banked, near]]
            stray = len(lookup_hash(target, unbanked, args))
            if 0 in found or stray:
                sys.exit(
                    f"preflight: {target.name} matched banked/near hashes {found} (each must be >= 1) "
                    f"and {stray} for a random one (must be 0): not the bank of {args.bank_file}?"
                )
            print(f"preflight {target.name}: banked and near hashes match, a random one does not")
    for target in targets:
        if "match" in workloads:
            lookup_hash(target, "00000000deadbeef" + "a5" * 24, args)
        if "check" in workloads:
            answer = check_image(target, (args.image_dir / "1.jpg").read_bytes(), args)
            print(f"preflight {target.name}: image check answered 200, {answer}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--make-bank", type=Path, help="only write a bank file of --bank-size hashes here")
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--moderation", help="URL of the moderation service")
    parser.add_argument("--key", help="a checker API key of the moderation service")
    parser.add_argument("--moderation-pid", type=int, help="pid of `moderation serve` (CPU used)")
    parser.add_argument("--moderation-db", help="its PostgreSQL database name (CPU of its backends)")
    parser.add_argument("--hma", help="URL of the second service (HMA 2.0, or a moderation with --hma-kind)")
    parser.add_argument("--hma-kind", choices=["hma", "moderation"], default="hma")
    parser.add_argument(
        "--hma-pid", type=int, help="pid of the second service's master process, e.g. gunicorn's (CPU used)"
    )
    parser.add_argument(
        "--hma-db", help="the second service's PostgreSQL database name (CPU of its backends)"
    )
    parser.add_argument("--psql", default="psql -h 127.0.0.1 -U postgres -d postgres", help="for --*-db")
    parser.add_argument("--bank-file", help="the file both banks were loaded from (preflight match check)")
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
    if args.make_bank:
        write_bank(args.make_bank, args.bank_size)
        print(f"wrote {args.bank_size:,} PDQ hashes to {args.make_bank}")
        return
    if not args.moderation:
        parser.error("--moderation is required (or --make-bank)")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")

    targets = [Target("moderation", args.moderation, "moderation", args.moderation_pid, args.moderation_db)]
    if args.hma:
        name = "hma" if args.hma_kind == "hma" else "second"
        targets.append(Target(name, args.hma, args.hma_kind, args.hma_pid, args.hma_db))
    if any(t.kind == "moderation" for t in targets) and not args.key:
        parser.error("--key (a checker key of the moderation service) is required")
    workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        directory = Path(tmp)
        scripts = {"match": directory / "match.lua", "check": directory / "check.lua"}
        scripts["match"].write_text(MATCH_LUA)
        scripts["check"].write_text(CHECK_LUA)
        args.image_dir = directory / "images"
        args.image_dir.mkdir()
        if "check" in workloads:
            qualities = make_jpegs(args.images, args.image_dir)
            sizes = [f.stat().st_size for f in args.image_dir.iterdir()]
            print(
                f"images: {args.images} distinct 1024x768 JPEGs, mean {statistics.mean(sizes) / 1024:.0f} KiB, "
                f"PDQ quality {min(qualities)}-{max(qualities)}"
            )
        preflight(targets, workloads, args)
        print(f"machine: {machine(load_values=3, digits=2)}")
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.runs} alternating runs")
        for workload in workloads:
            for run in range(args.runs):
                for target in targets:
                    result = run_wrk(target, workload, args, scripts)
                    target.runs.setdefault(workload, []).append(result)
                    cores = cpu_text(result)
                    print(
                        f"{workload:5} run {run + 1} {target.name:10}: {result['rps']:8.1f} req/s, "
                        f"p50 {result.get('p50', 0):6.1f} ms, p99 {result.get('p99', 0):6.1f} ms{cores}, "
                        f"non-2xx {result['non2xx']:.0f}, socket errors {result['socket_errors']:.0f}, "
                        f"load {result['load_before']:.2f}->{result['load_after']:.2f}",
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
                line += cpu_text(
                    {
                        name: statistics.median(r[name] for r in runs)
                        for name in ("rps", "cores", "db_cores")
                        if all(name in r for r in runs)
                    }
                )
                print(line)


if __name__ == "__main__":
    main()
