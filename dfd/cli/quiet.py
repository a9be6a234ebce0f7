"""Entry points print progress and results; the frameworks' INFO logs only on request.

`make demo` printed hundreds of TensorFlow, TFDS and absl INFO lines around the few that
matter. TensorFlow reads TF_CPP_MIN_LOG_LEVEL once, when its library loads, so an entry
point imports this module before anything that imports TensorFlow (importing it sets that
default, unless the user set it or asked for logs); once absl has parsed the flags,
`quiet_frameworks()` lets INFO lines from dfd's own modules through and hides the rest,
and prints them as plain messages: absl's `I1203 06:03:40.896564 140517457750912 file.py:81]`
prefix tells a developer where a log line came from, not a user how the run is going
(warnings and errors keep it). `--verbosity=N` (absl's own flag) or DFD_FRAMEWORK_LOGS=1
brings everything back, prefixes included.

TF_CPP_MIN_LOG_LEVEL does not reach every line: TensorFlow 2.21's libraries log through
Abseil's C++ logging, which writes every message to stderr until `absl::InitializeLog()`
is called (never, in a Python process) and has no run-time setting for it, so loading TF
prints "All log messages before absl::InitializeLog() ...", oneDNN's and the CUDA stub's
INFO lines, and, on a machine with CUDA libraries but no driver, a `cuInit` error. The
only place to stop them is the file descriptor: `import_tensorflow()` loads TF and lets
it find its devices with stderr going into a pipe, then writes back every line the
level would have let through.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from dfd.common import native_log

ENV = native_log.ENV
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OWN_FOLDERS = tuple(os.path.join(_REPO,
                                 room) + os.sep for room in ("dfd", "export", "builders"))
"""Source folders whose INFO lines are the entry points' own progress and results."""

FRAMEWORK_LOGGERS = ("tensorflow", "tensorflow_datasets", "keras", "h5py", "jax")


def logs_requested(argv: list[str] | None = None) -> bool:
    """DFD_FRAMEWORK_LOGS=1, or absl's `--verbosity`/`-v` at 0 (INFO) or more; a negative
    verbosity (`--verbosity=-1`, as `make demo` passes to `tfds build`) asks for less."""
    argv = sys.argv if argv is None else argv
    if os.environ.get(ENV) == "1":
        return True
    args = argv[1:]
    for i, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name not in ("-v", "--verbosity"):
            continue
        if not equals:
            value = args[i + 1] if i + 1 < len(args) else ""
        try:
            return int(value) >= 0
        except ValueError:
            return True  # absl will name the bad value; nothing to hide meanwhile
    return False


if not logs_requested():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class OwnInfoOnly(logging.Filter):
    """Warnings and errors from anyone; INFO and DEBUG only from dfd's own source."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.levelno >= logging.WARNING
                or os.path.abspath(record.pathname).startswith(OWN_FOLDERS))


def quiet_frameworks() -> None:
    """Called first in an absl main(): hides framework INFO unless --verbosity was given."""
    from absl import flags
    from absl import logging as absl_logging
    if logs_requested() or (flags.FLAGS.is_parsed() and flags.FLAGS["verbosity"].present):
        return
    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, OwnInfoOnly) for f in handler.filters):
        handler.addFilter(OwnInfoOnly())
    if flags.FLAGS.is_parsed() and not flags.FLAGS["showprefixforinfo"].present:
        # absl's own switch: INFO lines to stderr without the prefix, at the default
        # verbosity (an explicit --verbosity returned above, so the prefix comes back).
        flags.FLAGS.showprefixforinfo = False
    for name in FRAMEWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


_ABSL_LINE = re.compile(r"^([IWEF])\d{4} ")
_LEVELS = "IWEF"
NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "failed call to cuInit",
)
"""Start-up lines that say nothing about this run: Abseil's banner, and the CUDA driver
probe's error on a machine without a GPU (the device list in the run's config says so)."""


def shown(line: str, level: int) -> bool:
    """Whether a captured start-up line passes TF_CPP_MIN_LOG_LEVEL=`level` (0-3); at 0
    (the user asked for everything) even the noise is shown."""
    if level <= 0:
        return True
    if any(words in line for words in NOISE):
        return False
    kind = _ABSL_LINE.match(line)
    return kind is None or _LEVELS.index(kind.group(1)) >= level


def import_tensorflow():
    """Imports TensorFlow and initialises its devices with C++ start-up lines filtered.

    Filtered only when logs were not requested; lines of no C++ origin (Python warnings,
    a crash's message) and lines at or above the level are written back unchanged, after
    the import, even when it raises (`dfd.common.native_log.held_stderr`).
    """
    if logs_requested() or "tensorflow" in sys.modules:
        import tensorflow as tf
        return tf
    level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0)
    with native_log.held_stderr(keep=lambda line: shown(line, level)):
        import tensorflow as tf
        tf.config.list_physical_devices()
    return tf
