"""The README says what the code and the measurements say."""

import re

from conftest import ROOT


def test_readme_demo_time_is_the_one_build_notes_measured():
    readme = (ROOT / "README.md").read_text()
    notes = (ROOT / "BUILD_NOTES.md").read_text()
    (claimed,) = re.findall(r"`make demo` took (\d+m\d+s)", readme)
    measured = re.search(r"Demo, whole product:.*?(\d+m\d+s) wall", notes, re.S).group(1)
    assert claimed == measured


def test_readme_names_only_export_flags_that_exist():
    import subprocess
    import sys

    from conftest import TF_ENV
    out = subprocess.run([sys.executable, "-m", "dfd.export", "--helpfull"], env=TF_ENV,
                         capture_output=True, text=True, timeout=300).stdout
    export = {line.split(":")[0].strip().removeprefix("--") for line in out.splitlines()
              if line.startswith("  --")}
    named = set(re.findall(r"--(int8_\w+|calibration_\w+|parity_\w+)",
                           (ROOT / "README.md").read_text()))
    assert named and named <= export, named - export
