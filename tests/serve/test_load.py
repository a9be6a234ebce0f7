"""2,000 requests from 16 concurrent clients on loopback: the server answers every one."""

import json
import subprocess
import sys

import pytest

from conftest import TF_ENV

pytestmark = pytest.mark.slow

P99_BUDGET_MS = 2000
MAX_BUDGET_MS = 10000


def test_two_thousand_requests_from_sixteen_clients_without_an_error(tiny_export,
                                                                       tiny_test_images):
    out = subprocess.run(
        [sys.executable, "-m", "dfd.bench.serve_load",
         f"--model={tiny_export / 'model_int8.tflite'}", "--requests=2000", "--clients=16",
         f"--images={tiny_test_images}"],
        env=TF_ENV, capture_output=True, text=True, timeout=600)
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["requests"] == 2000 and result["clients"] == 16
    assert result["errors"] == 0, result["first_errors"]
    assert out.returncode == 0
    # What a user of the page relies on: an answer within a couple of seconds even with 15
    # others uploading, and nobody left waiting (a stalled decode slot, a lock held across
    # requests or a starved connection shows up here). serve_load on its generated 256 px
    # images, tiny int8 model: p99 523 ms, max 718 ms on the
    # shared 2-core machine with a training job beside it; a detector stalling 0.3 s per
    # image behind the same app gave p99 5.3 s and max 12 s, failing both budgets.
    assert result["p99_ms"] <= P99_BUDGET_MS, result
    assert result["max_ms"] <= MAX_BUDGET_MS, result
    assert result["requests_per_s"] >= 2000 / 300, result


def test_load_script_refuses_addresses_off_this_machine():
    out = subprocess.run([sys.executable, "-m", "dfd.bench.serve_load",
                          "--url=http://192.168.1.10:8000", "--requests=1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "only targets loopback" in out.stderr
