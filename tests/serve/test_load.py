"""2,000 requests from 16 concurrent clients on loopback: the server answers every one."""

import json
import subprocess
import sys

import pytest

from conftest import TF_ENV

pytestmark = pytest.mark.slow


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
    assert 0 < result["p50_ms"] <= result["p99_ms"]


def test_load_script_refuses_addresses_off_this_machine():
    out = subprocess.run([sys.executable, "-m", "dfd.bench.serve_load",
                          "--url=http://192.168.1.10:8000", "--requests=1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "only targets loopback" in out.stderr
