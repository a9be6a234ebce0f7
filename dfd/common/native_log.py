"""Holding back the INFO lines native libraries write straight to the stderr descriptor.

TensorFlow's and LiteRT's C++ code log with their own loggers, which Python's logging never
sees and which have no setting reachable from Python: every interpreter announces "INFO:
Created TensorFlow Lite XNNPACK delegate for CPU.", and the TFLite converter prints its
quantization settings. The only place to stop such a line is file descriptor 2, so
`held_stderr` points it at an in-memory file while the native call runs, then writes back
every line the caller's `keep` lets through, in order, even when the call raises.

DFD_FRAMEWORK_LOGS=1 keeps everything (`logs_wanted`). Device side: standard library only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterator

ENV = "DFD_FRAMEWORK_LOGS"

INFO_LINES = (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "fully_quantize: ",
)
"""Starts of the native INFO lines dfd's entry points hide: LiteRT announcing its default
delegate, and the converter echoing the quantization it was asked for (both say nothing
the run's own output does not)."""


def logs_wanted() -> bool:
    return os.environ.get(ENV) == "1"


def not_native_info(line: str) -> bool:
    """Default `keep`: every line except the INFO_LINES."""
    return not line.startswith(INFO_LINES)


@contextlib.contextmanager
def held_stderr(keep: Callable[[str], bool] = not_native_info) -> Iterator[None]:
    """Runs the block with fd 2 held; afterwards writes back the lines `keep` accepts.

    A no-op when logs are wanted. The lines go to an in-memory file, not a pipe: a native
    library writing under the import lock could fill a pipe nobody reads yet. Another
    thread's stderr line written meanwhile is held too and written back with the rest.
    """
    if logs_wanted():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    held = _in_memory_file()
    os.dup2(held.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        held.seek(0)
        text = held.read().decode("utf-8", "replace")
        held.close()
        kept = "".join(line for line in text.splitlines(keepends=True) if keep(line))
        if kept:
            sys.stderr.write(kept)
            sys.stderr.flush()


def _in_memory_file():
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("dfd-native-log"), "w+b")
    import tempfile
    return tempfile.TemporaryFile()
