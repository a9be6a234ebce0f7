"""Finding a TFLite interpreter on whatever the device has installed.

A Pi gets `ai-edge-litert` from `pip install "dfd[edge]"`; older set-ups may have the
retired `tflite_runtime`; a workstation may only have TensorFlow. The first that imports
wins, so the same runtime code runs everywhere, and a device with none of them gets one
sentence saying what to install instead of an ImportError from deep inside.
"""

from __future__ import annotations

import importlib

CANDIDATES = (
    ("ai_edge_litert.interpreter", "ai_edge_litert"),
    ("tflite_runtime.interpreter", "tflite_runtime"),
    ("tensorflow.lite", "tensorflow.lite"),
)
"""(module holding `Interpreter`, name reported to the user), in order of preference."""


class NoInterpreterError(RuntimeError):
    """No TFLite interpreter package is installed."""


def interpreter_class():
    """(Interpreter class, name of the package that provided it)."""
    tried = []
    for module_name, label in CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            tried.append(f"{label} ({e})")
            continue
        return module.Interpreter, label
    raise NoInterpreterError(
        "no TFLite interpreter is installed: install dfd's edge runtime with "
        "`pip install \"dfd[edge]\"` (it brings ai-edge-litert). Tried: " + "; ".join(tried))
