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


KERNELS = ("auto", "xnnpack", "builtin")
"""Which CPU kernels run a model.

xnnpack: the interpreter's default XNNPACK delegate. builtin: TFLite's own kernels, no
delegate. auto: XNNPACK for float models, builtin kernels for integer (int8) models.

Why auto does that: on the emulated Raspberry Pi (qemu-user, Cortex-A72 and A76),
XNNPACK's int8 convolutions return answers unrelated to x86's (three in four outputs
differ, a fake scored 0.0 instead of 0.98), while TFLite's builtin int8 kernels agree with
x86 to the bit. Whether real Pi silicon is affected cannot be told from emulation; until a
real Pi says otherwise, the int8 answer a user gets is the one that can be proven.
"""


class NoInterpreterError(RuntimeError):
    """No TFLite interpreter package is installed."""


def _op_resolver_types(module):
    """The OpResolverType enum beside an Interpreter (tf.lite keeps it in `experimental`)."""
    return getattr(module, "OpResolverType", None) or getattr(
        getattr(module, "experimental", None), "OpResolverType", None)


def load_interpreter(model_path: str, threads: int | None, kernels: str, integer_model):
    """(allocated interpreter, package name, kernels used).

    `integer_model(interpreter)` decides what auto picks."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
    Interpreter, package, module = _find()
    if kernels == "auto":  # the input's type is known before any tensor is allocated
        probe = Interpreter(model_path=model_path, num_threads=threads)
        kernels = "builtin" if integer_model(probe) else "xnnpack"
    options = {}
    if kernels == "builtin":
        options["experimental_op_resolver_type"] = _op_resolver_types(
            module).BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=model_path, num_threads=threads, **options)
    interpreter.allocate_tensors()
    return interpreter, package, kernels


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
