""".ci/run runs the README's two commands, tests first, and fails when either fails.

Run against a `make` stand-in that records its targets and fails the one it is told to, with
`chromium` and `chromedriver` present so that nothing is installed.
"""

import os
import subprocess

import pytest

from conftest import ROOT

FAKE_MAKE = """#!/bin/sh
echo "$1" >> "$CI_TEST_LOG"
[ "$1" != "$CI_TEST_FAIL" ]
"""


def run_ci(tmp_path, fail: str = ""):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"make": FAKE_MAKE, "chromium": "#!/bin/sh\n",
                       "chromedriver": "#!/bin/sh\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "targets"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "CI_TEST_LOG": str(log), "CI_TEST_FAIL": fail}
    out = subprocess.run([str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True,
                         timeout=60)
    return out, log.read_text().split() if log.exists() else []


def test_ci_runs_the_tests_then_the_demo(tmp_path):
    out, targets = run_ci(tmp_path)
    assert out.returncode == 0, out.stderr
    assert targets == ["test", "demo"]
    assert "ci: make demo passed in " in out.stdout


@pytest.mark.parametrize("fail,ran", [("test", ["test"]), ("demo", ["test", "demo"])])
def test_a_failing_command_fails_ci(tmp_path, fail, ran):
    out, targets = run_ci(tmp_path, fail)
    assert out.returncode != 0
    assert targets == ran
    assert f"ci: make {fail} passed" not in out.stdout
