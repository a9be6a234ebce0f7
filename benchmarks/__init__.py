"""Benchmarks behind the figures in BUILD_NOTES.md, run from the repository's root as
`python -m benchmarks.<name>`. They measure a checkout and are not part of the wheel.

They craft their inputs with the generators of tests/support (hostile images, composed face
photos, a loopback server's helpers), so that a benchmark and the test judging the same
property use the same files; that folder goes on the import path here, as pytest's
`pythonpath = tests` puts it there for the tests. Appended, so it shadows nothing installed.
"""

import os
import sys

_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
