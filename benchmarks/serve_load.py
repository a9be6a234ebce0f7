"""Load on the upload API: N requests from C concurrent clients, on loopback only.

    python -m benchmarks.serve_load --model=runs/demo/export/model_int8.tflite \
        [--requests=2000 --clients=16 --images=FOLDER] [--p99_budget_ms=2000]

Starts `python -m dfd.serve` on a free loopback port (or uses --url, which must be a
loopback address), sends a fixed number of POST /api/classify requests over keep-alive
connections, and prints requests/s, p50/p95/p99 latency and the error count. Bounded in
count and time: it stops by itself. Exits 1 on any error or a latency over its budget.
"""

from __future__ import annotations

import argparse
import http.client
import io
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
from PIL import Image

from support.server import free_port, wait_healthy

P99_BUDGET_MS = 2000.0
"""What a user of the page relies on: an answer within a couple of seconds even with 15
others uploading. A stalled decode slot, a lock held across requests or a starved connection
shows up here: on the tiny int8 test model with its generated 256 px images this measured
p99 523 ms and max 718 ms on the shared 2-core machine with a training job beside it, while
a detector stalling 0.3 s per image behind the same app gave p99 5.3 s and max 12 s."""
MAX_BUDGET_MS = 10000.0
"""Nobody left waiting: the slowest single answer (same measurements as P99_BUDGET_MS)."""


def generated_images(count: int = 16, size: int = 256) -> list[bytes]:
    """Photo-sized JPEGs made here, so the benchmark needs no data set."""
    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        small = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((size, size), Image.BICUBIC)
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=90)
        images.append(out.getvalue())
    return images


def folder_images(folder: str, limit: int = 64) -> list[bytes]:
    paths = sorted(os.path.join(d, n) for d, _, names in os.walk(folder) for n in names
                   if n.lower().endswith((".jpg", ".jpeg", ".png")))[:limit]
    if not paths:
        raise SystemExit(f"--images={folder} holds no .jpg/.jpeg/.png files")
    return [open(p, "rb").read() for p in paths]


def require_loopback(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"--url={url}: this load test only targets loopback addresses")
    return host, parsed.port or 80


def run_load(host: str, port: int, images: list[bytes], requests: int, clients: int,
             time_limit: float = 600.0) -> dict:
    """Sends exactly `requests` requests (fewer only if `time_limit` runs out)."""
    latencies, errors, lock = [], [], threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + time_limit

    def client():
        connection = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            start = time.perf_counter()
            try:
                connection.request("POST", "/api/classify", body=images[i % len(images)],
                                   headers={"Content-Type": "image/jpeg"})
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and "p_fake" in json.loads(body)
            except (OSError, http.client.HTTPException, ValueError) as e:
                ok, body = False, repr(e).encode()
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
            elapsed = (time.perf_counter() - start) * 1000.0
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(body[:200].decode(errors="replace"))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies)
    return {"requests": len(latencies), "clients": clients, "seconds": round(wall, 3),
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2),
            "errors": len(errors), "first_errors": errors[:3]}


def over_budget(result: dict, p99_budget_ms: float, max_budget_ms: float) -> list[str]:
    """The budgets the run missed (a budget of 0 is not checked)."""
    missed = []
    for key, budget in (("p99_ms", p99_budget_ms), ("max_ms", max_budget_ms)):
        if budget and result[key] > budget:
            missed.append(f"{key} {result[key]} > {budget:g}")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a .tflite to serve (starts dfd.serve itself)")
    parser.add_argument("--url", help="an already running server, loopback only")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server_threads", type=int, default=4)
    parser.add_argument("--images", help="folder of images to send (default: generated)")
    parser.add_argument("--p99_budget_ms", type=float, default=P99_BUDGET_MS,
                        help="fail above this p99 latency (0: not checked)")
    parser.add_argument("--max_budget_ms", type=float, default=MAX_BUDGET_MS,
                        help="fail above this slowest answer (0: not checked)")
    args = parser.parse_args(argv)
    if bool(args.model) == bool(args.url):
        parser.error("give exactly one of --model and --url")
    images = folder_images(args.images) if args.images else generated_images()
    server = None
    if args.model:
        host, port = "127.0.0.1", free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "dfd.serve", f"--model={args.model}", f"--port={port}",
             f"--threads={args.server_threads}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        host, port = require_loopback(args.url)
    try:
        wait_healthy(host, port, server)
        result = run_load(host, port, images, args.requests, args.clients)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    result["over_budget"] = over_budget(result, args.p99_budget_ms, args.max_budget_ms)
    print(json.dumps(result))
    print(f"{result['requests']} requests from {result['clients']} clients in "
          f"{result['seconds']} s: {result['requests_per_s']} requests/s, p50 "
          f"{result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, "
          f"{result['errors']} errors"
          + "".join(f"; over budget: {missed}" for missed in result["over_budget"]),
          file=sys.stderr)
    return 1 if result["errors"] or result["over_budget"] else 0


if __name__ == "__main__":
    sys.exit(main())
