"""Finding a TFLite interpreter on whatever the device has installed.

A Pi gets `ai-edge-litert` from `pip install "dfd[edge]"`; older set-ups may have the
retired `tflite_runtime`; a workstation may only have TensorFlow. The first that imports
wins, so the same runtime code runs everywhere, and a device with none of them gets one
sentence saying what to install instead of an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
import os

from dfd.common import native_log

CANDIDATES = (
    ("ai_edge_litert.interpreter", "ai_edge_litert"),
    ("tflite_runtime.interpreter", "tflite_runtime"),
    ("tensorflow.lite", "tensorflow.lite"),
)
"""(module holding `Interpreter`, name reported to the user), in order of preference."""


KERNELS = ("auto", "xnnpack", "builtin")
"""Which CPU kernels run a model, as a user chooses them.

xnnpack: the interpreter's default XNNPACK delegate, for every precision (about 3x faster
than builtin for int8 on this project's models, BUILD_NOTES.md). builtin: TFLite's own
optimized kernels, no delegate. auto: XNNPACK when it reproduces the bundle's golden vectors
on this device, else builtin (`dfd.lite.kernels`).
"""

RESOLVERS = {"xnnpack": None, "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
             "reference": "BUILTIN_REF"}
"""Kernels an interpreter can be opened with -> its OpResolverType (None: the default, with
XNNPACK). reference: TFLite's reference kernels, slow and plain: the export computes golden
outputs with them, so "right" is defined independently of any optimized kernel."""


class NoInterpreterError(RuntimeError):
    """No TFLite interpreter package is installed."""


def _op_resolver_types(module):
    """The OpResolverType enum beside an Interpreter (tf.lite keeps it in `experimental`)."""
    return getattr(module, "OpResolverType", None) or getattr(
        getattr(module, "experimental", None), "OpResolverType", None)


def default_threads() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the
    machine's core count: more interpreter threads than cores only queue)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_interpreter(model_path: str, threads: int | None, kernels: str):
    """(allocated interpreter, package name) running `kernels` (a key of RESOLVERS)."""
    if kernels not in RESOLVERS:
        raise ValueError(f"kernels must be one of {tuple(RESOLVERS)}, not {kernels!r}")
    Interpreter, package, module = _find()
    options = {}
    if RESOLVERS[kernels] is not None:
        options["experimental_op_resolver_type"] = getattr(_op_resolver_types(module),
                                                           RESOLVERS[kernels])
    with native_log.held_stderr():  # LiteRT announces its XNNPACK delegate on every load
        interpreter = Interpreter(model_path=model_path,
                                  num_threads=threads if threads else default_threads(),
                                  **options)
        interpreter.allocate_tensors()
    return interpreter, package


def interpreter_class():
    """(Interpreter class, name of the package that provided it)."""
    Interpreter, package, _ = _find()
    return Interpreter, package


def _find():
    tried = []
    for module_name, label in CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            tried.append(f"{label} ({e})")
            continue
        return module.Interpreter, label, module
    raise NoInterpreterError(
        "no TFLite interpreter is installed: install dfd's edge runtime with "
        "`pip install \"dfd[edge]\"` (it brings ai-edge-litert). Tried: " + "; ".join(tried))
