"""The server's memory budget (README: 1 GB) under a burst of worst-case uploads."""

import subprocess
import sys

import pytest

from conftest import TF_ENV
from support.server import free_port, wait_healthy, worst_case_memory

pytestmark = pytest.mark.slow


@pytest.mark.long
def test_a_burst_of_worst_case_uploads_stays_within_the_memory_budget(tiny_export):
    """16 clients upload the largest images the gate allows, faces searched in each (until
    the search read a reduced copy, such a burst took 1.2 GB). With one malloc arena
    (dfd/serve/allocator.py) the peak measured 466-509 MB over idle here and the server
    kept 48-181 MB afterwards, against ~660 MB kept with glibc's per-thread arenas; what it
    keeps varies too much between runs to assert, so the budget is what is checked."""
    port = free_port()
    env = {k: v for k, v in TF_ENV.items() if k != "MALLOC_ARENA_MAX"}
    server = subprocess.Popen(
        [sys.executable, "-m", "dfd.serve", f"--model={tiny_export / 'model_int8.tflite'}",
         f"--port={port}", "--request_threads=4", "--faces=auto"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy("127.0.0.1", port, server)
        burst = worst_case_memory(server.pid, port, 16)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert burst["concurrent_worst_statuses"] == ["200"], burst
    assert burst["concurrent_worst_peak_over_idle_mb"] <= 1024, burst
