"""Sign-in flood load test (issue 11, finding 1): check latency while failed sign-ins and audit
verifications loop against the same server.

Sets up a fresh SQLite database (or --database-url) with a checker key, an auditor and --audit-events
audit events, starts `moderation serve` (classifier off) and posts 256x256 PNG checks from one client
for --seconds unloaded, then again while --flooders threads loop failed sign-ins (unknown and known
usernames; with --no-throttle the sign-in throttle is raised out of the way so every attempt runs
argon2) and one thread loops the dashboard's "verify the audit log" button. Prints check p50/p90 of both phases and their ratio.

    /work/main/.venv/bin/python benchmarks/signin_load.py --seconds 10
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _machine import machine
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway user in a temporary database


def pngs(count: int) -> list[bytes]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(count):
        image = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).resize((256, 256))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def multipart(data: bytes, boundary: str = "benchboundary") -> tuple[bytes, str]:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
    body = (head + "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "moderation", *args], env=env, input=stdin, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"moderation {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Browser:
    """A minimal cookie-keeping HTTP client for the dashboard forms."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status, text

    def token(self, path: str) -> str:
        _, text = self.request("GET", path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', text)
        return match.group(1) if match else ""

    def sign_in(self, username: str, password: str) -> int:
        token = self.token("/admin/login")
        return self.request(
            "POST", "/admin/login", f"username={username}&password={password}&csrf_token={token}"
        )[0]


def check_phase(port: int, key: str, images: list[bytes], seconds: float) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        body, content_type = multipart(images[i % len(images)])
        i += 1
        start = time.perf_counter()
        connection.request(
            "POST",
            "/v1/check",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
        )
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            sys.exit(f"check answered {response.status}")
    return latencies


def summary(latencies: list[float]) -> str:
    cut = statistics.quantiles(latencies, n=10)
    return f"{len(latencies)} checks, p50 {statistics.median(latencies):.1f} ms, p90 {cut[8]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flooders", type=int, default=2)
    parser.add_argument("--audit-events", type=int, default=3000)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--no-throttle", action="store_true", help="raise the sign-in throttle out of the way (worst case)"
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="signin-load-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MODERATION_ENV": "development",
        "MODERATION_DATA_DIR": str(data_dir),
        "MODERATION_CLASSIFIER_ENABLED": "false",
    }
    if args.no_throttle:  # worst case for the server: every attempt verifies an argon2 hash
        env.update(
            MODERATION_LOGIN_ATTEMPTS_PER_ADDRESS="1000000000",
            MODERATION_LOGIN_ATTEMPTS_PER_USERNAME="1000000000",
            MODERATION_LOGIN_MAX_FAILURES="1000000000",
        )
    if args.database_url:
        env["MODERATION_DATABASE_URL"] = args.database_url
    cli(["db", "upgrade"], env)
    key = cli(["apikey", "create", "bench", "--role", "checker"], env).strip().split()[-1]
    cli(["user", "create", "auditor", "--role", "auditor"], env, stdin=PASSWORD + "\n")
    cli(["user", "create", "victim", "--role", "reviewer"], env, stdin=PASSWORD + "\n")
    seed = (
        "from moderation.audit.service import audit\nfrom moderation.db import transaction\n"
        f"with transaction() as s:\n    [audit.record(s, actor='seed', action='seed.event', subject_type='seed', "
        f"subject_id=i, details={{'i': i}}) for i in range({args.audit_events})]\n"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True)

    server = subprocess.Popen(
        [sys.executable, "-m", "moderation", "serve", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        images = pngs(32)
        check_phase(args.port, key, images, 2.0)  # warm-up
        print(f"machine: {machine()}")
        throttle = "off (worst case)" if args.no_throttle else "default settings"
        print(
            f"database: {args.database_url or 'SQLite'}; audit log of {args.audit_events} events; throttle {throttle}"
        )
        unloaded = check_phase(args.port, key, images, args.seconds)
        print(f"unloaded: {summary(unloaded)}")

        stop = threading.Event()
        counts = {"sign_ins": 0, "verifies": 0}

        def flood(n: int) -> None:
            browser = Browser(args.port)
            while not stop.is_set():
                user = "victim" if n % 2 else f"nobody{counts['sign_ins']}"
                browser.sign_in(user, "wrong-password")
                counts["sign_ins"] += 1

        def verify() -> None:
            browser = Browser(args.port)
            if browser.sign_in("auditor", PASSWORD) != 303:
                sys.exit("auditor could not sign in")
            token = browser.token("/admin/audit")  # the session's CSRF token does not change
            while not stop.is_set():
                browser.request("POST", "/admin/audit/verify", f"csrf_token={token}")
                counts["verifies"] += 1

        threads = [threading.Thread(target=flood, args=(n,)) for n in range(args.flooders)]
        threads.append(threading.Thread(target=verify))
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        loaded = check_phase(args.port, key, images, args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        print(
            f"loaded ({args.flooders} sign-in flooders + 1 audit verifier; "
            f"{counts['sign_ins']} failed sign-ins, {counts['verifies']} verifications): {summary(loaded)}"
        )
        ratio = statistics.median(loaded) / statistics.median(unloaded)
        print(f"p50 loaded / unloaded: {ratio:.2f}x (target <= 2x)")
        print(f"machine after: {machine()}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
