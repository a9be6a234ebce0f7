"""Choosing the CPU kernels: XNNPACK only when it reproduces the bundle's golden vectors here.

XNNPACK is about three times faster than TFLite's builtin kernels for int8, but a kernel that
computes wrongly on some CPU returns confident nonsense without any error: qemu 7.2's SME
emulation turned a fake's 0.98 into 0.0 (BUILD_NOTES.md). So `auto` is a measurement, not a
guess: the export recorded a few fixed inputs (`golden_inputs.npy`) and what TFLite's
reference kernels answer for them (model.json "golden"); at start-up the XNNPACK interpreter
answers the same inputs on this device, and it is kept only if every output is within the
recorded tolerance (one quantization step for int8, unless the exporting machine's own XNNPACK
needed more; 1e-4 for float). Otherwise the builtin kernels run, and the reason is kept for
the user (`Choice.reason`: stderr, /healthz, the page).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import time

import numpy as np

from dfd.lite import tensors
from dfd.lite.interpreter import KERNELS, load_interpreter

GOLDEN = "golden"
"""model.json's section holding the golden vectors."""


class NoGoldenVectors(Exception):
    """The bundle has no golden vectors for this model; the message says why."""


class DamagedGoldenVectors(Exception):
    """model.json declares golden vectors that cannot be used as recorded."""


@dataclasses.dataclass(frozen=True)
class Golden:
    inputs: np.ndarray
    """(N, S, S, 3) uint8 `dfd.common.spec` pixels."""
    sources: tuple[str, ...]
    expected: np.ndarray
    """(N, K) raw output values the reference kernels gave."""
    tolerance: float
    """Largest allowed |raw output - expected|: quantization steps, or absolute for float."""
    unit: str


@dataclasses.dataclass(frozen=True)
class Choice:
    kernels: str
    """"xnnpack" or "builtin": what runs the model."""
    reason: str
    """One sentence for a person: why these kernels."""
    check_ms: float | None = None
    """Time the golden check took, when it ran."""

    def as_dict(self) -> dict:
        return {"kernels": self.kernels, "reason": self.reason,
                "check_ms": None if self.check_ms is None else round(self.check_ms, 3)}


def golden_for(card: dict, model_path: str) -> Golden:
    """The golden vectors model.json records for this model file.

    Raises NoGoldenVectors when there are none to use (an older bundle, a renamed file, the
    inputs file not copied), DamagedGoldenVectors when they are there but not as recorded."""
    name = os.path.basename(model_path)
    section = card.get(GOLDEN)
    if not section:
        raise NoGoldenVectors("model.json has no golden vectors" if card else
                              "no model.json beside the model, so no golden vectors")
    try:
        entry = section["outputs"].get(name)
        if entry is None:
            raise NoGoldenVectors(f"model.json has no golden outputs for {name}")
        file, digest = section["inputs"]["file"], section["inputs"]["sha256"]
        sources = tuple(section["inputs"].get("sources", ()))
        expected = np.asarray(entry["values"], np.float64)
        tolerance, unit = float(entry["tolerance"]), str(entry["unit"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DamagedGoldenVectors(f"model.json's golden section is malformed ({e!r})") from None
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), os.path.basename(file))
    if not os.path.exists(path):
        raise NoGoldenVectors(f"{file}, named by model.json, is not beside the model "
                              f"(copy the whole export folder)")
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise DamagedGoldenVectors(f"{file} does not match its sha256 in model.json")
    try:
        pixels = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DamagedGoldenVectors(f"{file} is not a numpy array: {e}") from None
    if (pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3
            or expected.ndim != 2 or len(expected) != len(pixels) or not len(pixels)):
        raise DamagedGoldenVectors(f"{file} ({pixels.dtype} {pixels.shape}) and the "
                                   f"{len(expected)} outputs recorded for {name} do not fit "
                                   f"together")
    return Golden(pixels, sources, expected, tolerance, unit)


def compare(interpreter, golden: Golden) -> tuple[float, str | None]:
    """(largest difference, None) when every output is within tolerance, else a reason."""
    size = tuple(interpreter.get_input_details()[0]["shape"][1:])
    if golden.inputs.shape[1:] != size:
        return float("inf"), (f"the golden inputs are {golden.inputs.shape[1:]} but the model "
                              f"takes {size}: model.json belongs to another model")
    worst = 0.0
    for number, (pixels, expected) in enumerate(zip(golden.inputs, golden.expected)):
        got = tensors.run(interpreter, pixels)
        if got.shape != expected.shape:
            return float("inf"), (f"golden input {number} gave {got.size} outputs, "
                                  f"model.json records {expected.size}")
        diff = np.abs(got.astype(np.float64) - expected)
        worst = max(worst, float(np.max(diff)))
        if not np.all(diff <= golden.tolerance):  # NaN fails too
            source = f" ({golden.sources[number]})" if number < len(golden.sources) else ""
            reference = expected.astype(got.dtype) if got.dtype.kind in "iu" else expected
            return worst, (f"golden input {number}{source} gave {got.tolist()}, the reference "
                           f"{reference.tolist()} ({_amount(float(np.max(diff)), golden.unit)}"
                           f" off, allowed {_amount(golden.tolerance, golden.unit)})")
    return worst, None


def _amount(value: float, unit: str) -> str:
    if unit == "quantization steps":
        return f"{value:g} quantization step{'' if value == 1 else 's'}"
    return f"{value:.3g}"


def open_interpreter(model_path: str, threads: int | None, kernels: str, card: dict):
    """(allocated interpreter, package name, Choice) for `kernels` in KERNELS."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
    if kernels != "auto":
        interpreter, package = load_interpreter(model_path, threads, kernels)
        return interpreter, package, Choice(kernels, f"{kernels} asked for; not checked")
    try:
        golden = golden_for(card, model_path)
    except NoGoldenVectors as e:
        # The only XNNPACK fault ever seen here was an emulator's (BUILD_NOTES.md), XNNPACK
        # is what LiteRT itself runs by default, and its int8 answers on the emulated Pi 4
        # and 5 equal x86's, while the builtin ones do not always: unchecked, it is still
        # the better bet for every precision.
        try:
            interpreter, package = load_interpreter(model_path, threads, "xnnpack")
        except (RuntimeError, ValueError) as refused:
            return _builtin(model_path, threads, refused)
        return interpreter, package, Choice("xnnpack", f"{e}: XNNPACK, unchecked")
    except DamagedGoldenVectors as e:
        interpreter, package = load_interpreter(model_path, threads, "builtin")
        return interpreter, package, Choice(
            "builtin", f"{e}: XNNPACK cannot be checked, so builtin kernels run")
    start = time.perf_counter()
    try:
        interpreter, package = load_interpreter(model_path, threads, "xnnpack")
    except (RuntimeError, ValueError) as refused:
        return _builtin(model_path, threads, refused)
    worst, problem = compare(interpreter, golden)
    ms = (time.perf_counter() - start) * 1000.0
    if problem is None:
        return interpreter, package, Choice(
            "xnnpack", f"XNNPACK reproduced all {len(golden.inputs)} golden vectors "
                       f"(largest difference {_amount(worst, golden.unit)}, allowed "
                       f"{_amount(golden.tolerance, golden.unit)})", ms)
    interpreter, package = load_interpreter(model_path, threads, "builtin")
    return interpreter, package, Choice(
        "builtin", f"XNNPACK failed the golden check on this device: {problem}; builtin "
                   f"kernels run instead", ms)


def _builtin(model_path: str, threads: int | None, refused: Exception):
    """Builtin kernels for a model XNNPACK refuses to prepare (degenerate quantization
    parameters, for one); a file builtin cannot load either raises as before."""
    interpreter, package = load_interpreter(model_path, threads, "builtin")
    first = str(refused).strip().splitlines()[0] if str(refused).strip() else repr(refused)
    return interpreter, package, Choice(
        "builtin", f"XNNPACK cannot run this model ({first}); builtin kernels run instead")
