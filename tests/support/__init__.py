"""Generators the tests share with the benchmarks: hostile images, composed face photos and
helpers for a server on loopback. They live with the tests (importable as `support` through
setup.cfg's `pythonpath = tests`; benchmarks/__init__.py adds the folder for the
benchmarks), so that no test depends on code the wheel would ship only for tests."""
