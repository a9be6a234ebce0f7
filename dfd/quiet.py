"""Entry points print progress and results; the frameworks' INFO logs only on request.

`make demo` printed hundreds of TensorFlow, TFDS and absl INFO lines around the few that
matter. TensorFlow reads TF_CPP_MIN_LOG_LEVEL once, when its library loads, so an entry
point imports this module before anything that imports TensorFlow (importing it sets that
default, unless the user set it or asked for logs); once absl has parsed the flags,
`quiet_frameworks()` lets INFO lines from dfd's own modules through and hides the rest.
`--verbosity=N` (absl's own flag) or DFD_FRAMEWORK_LOGS=1 brings everything back.
"""

from __future__ import annotations

import logging
import os
import sys

ENV = "DFD_FRAMEWORK_LOGS"
OWN_FOLDERS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 room) + os.sep for room in ("dfd", "export", "builders"))
"""Source folders whose INFO lines are the entry points' own progress and results."""

FRAMEWORK_LOGGERS = ("tensorflow", "tensorflow_datasets", "keras", "h5py", "jax")


def logs_requested(argv: list[str] | None = None) -> bool:
    argv = sys.argv if argv is None else argv
    return os.environ.get(ENV) == "1" or any(
        arg == "-v" or arg.startswith(("--verbosity", "-v=")) for arg in argv[1:])


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
    for name in FRAMEWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
