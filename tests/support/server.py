"""A dfd-serve on loopback, from outside: a free port, waiting until it answers, one
request with a hang deadline, and the memory a burst of worst-case uploads costs it. The
server's tests and the benchmarks (`benchmarks.serve_load`, `benchmarks.fuzz`) share them."""

from __future__ import annotations

import http.client
import socket
import threading
import time

from support import hostile

HANG_SECONDS = 30
"""Seconds without an answer after which one request counts as hung."""
BURST_HANG_SECONDS = 300
"""The same for a request of a burst of worst-case uploads: the server decodes two at a
time, so the last of 16 waits for seven rounds of 40 MP decodes and face searches, which a
loaded 2-core machine stretched past HANG_SECONDS (one of 16 unanswered after 30 s, load
average 9.6). A guard against a hang, not a speed target."""


def free_port() -> int:
    """A loopback port nothing listens on now (the server binds it moments later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(host: str, port: int, process=None, timeout: float = 60.0) -> None:
    """Returns once /healthz answers 200; exits naming why if `process` dies first or
    `timeout` seconds pass (loading the model takes seconds on a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"dfd.serve exited with {process.returncode} before answering")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no healthy server on {host}:{port} after {timeout:.0f} s")


def proc_status(pid: int, key: str) -> int:
    """A /proc/<pid>/status memory field in MB (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    raise KeyError(key)


def ask(port: int, body: bytes, path: str = "/api/classify", method: str = "POST",
        headers: dict | None = None,
        timeout: float = HANG_SECONDS) -> tuple[int | None, bytes]:
    """(status, body), or (None, b"") for no answer within `timeout` seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body,
                           headers=headers or {"Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        return response.status, response.read()
    except socket.timeout:
        return None, b""
    except (OSError, http.client.HTTPException) as e:
        return -1, repr(e).encode()
    finally:
        connection.close()


def worst_case_memory(pid: int, port: int, clients: int, explain: bool = False) -> dict:
    """Peak memory over idle while `clients` upload worst-case images at once, and how much
    of it the server still holds after they are answered; with `explain`, each upload asks
    for its heat maps (`?explain=1`) and the keys say `concurrent_worst_explain`."""
    if not clients:
        return {}
    path = "/api/classify?explain=1" if explain else "/api/classify"
    key = "concurrent_worst_explain" if explain else "concurrent_worst"
    worst = list(hostile.worst_images().values())
    time.sleep(0.5)
    before = proc_status(pid, "VmRSS")
    with open(f"/proc/{pid}/clear_refs", "w") as f:  # restarts VmHWM from the current RSS
        f.write("5")
    statuses = []
    threads = [threading.Thread(target=lambda i=i: statuses.append(
        ask(port, worst[i % len(worst)], path, timeout=BURST_HANG_SECONDS)[0]))
        for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = proc_status(pid, "VmHWM")
    time.sleep(0.5)
    return {f"{key}_uploads": clients,
            f"{key}_statuses": sorted(set(map(str, statuses))),
            f"{key}_peak_over_idle_mb": peak - before,
            f"{key}_kept_after_mb": proc_status(pid, "VmRSS") - before}
