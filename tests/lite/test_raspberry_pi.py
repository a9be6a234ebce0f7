"""A 64-bit Raspberry Pi with only `pip install "dfd[edge]"` gives the answers x86 gives.

Runs dfd's wheel on an emulated Pi 4 (Cortex-A72) and Pi 5 (Cortex-A76) through
`../shared/tools/pi-emulate` (Debian bookworm arm64, Python 3.11, qemu-user). Emulated speed
says nothing about a Pi; the answers do.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from dfd.lite.detector import Detector

pytestmark = [pytest.mark.pi, pytest.mark.slow]

PI_EMULATE = pathlib.Path(os.environ.get("DFD_PI_EMULATE",
                                         ROOT.parent / "shared" / "tools" / "pi-emulate"))
CANNOT_RUN_HERE = ("needs root", "cannot register qemu-aarch64", "could not install the host tools",
                   "debootstrap failed", "no Debian mirror")
"""pi-emulate's own words for a machine that cannot emulate a Pi: only these skip the test.
A wheel that cannot be fetched or installed for the Pi is dfd's failure and fails it."""
MODELS = ("model_float32.tflite", "model_int8.tflite")
CPUS = ("cortex-a72", "cortex-a76")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (built,) = dist.glob("dfd-*-py3-none-any.whl")
    return built


def on_pi(cpu: str, args: list[str], cwd: pathlib.Path, binds: list[pathlib.Path],
          install: str | None = None) -> str:
    if not PI_EMULATE.exists():
        pytest.skip(f"{PI_EMULATE} is absent (set DFD_PI_EMULATE to the tool)")
    command = [str(PI_EMULATE), "--cpu", cpu]
    if install:
        command += ["--fresh-venv", "--install", install]
    for folder in binds:
        command += ["--bind", str(folder)]
    out = subprocess.run(command + ["--", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        said = out.stderr.strip().splitlines()[-1:] or [""]
        if any(reason in said[0] for reason in CANNOT_RUN_HERE):
            pytest.skip(f"pi-emulate cannot run on this machine: {said[0]}")
        raise AssertionError(f"on the emulated Pi ({cpu}) {args} failed ({out.returncode}):\n"
                             f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return out.stdout


@pytest.fixture(scope="module")
def pi_venv(wheel, tmp_path_factory):
    """A fresh venv on the emulated Pi with only `dfd[edge]` installed from the wheel."""
    cwd = tmp_path_factory.mktemp("pi")
    on_pi(CPUS[0], ["pip", "list", "--format=json"], cwd, [], install=f"{wheel}[edge]")
    return cwd


def x86_answers(model: pathlib.Path, images: list[pathlib.Path]) -> dict[str, float]:
    detector = Detector(str(model))
    return {str(path): detector.classify_bytes(path.read_bytes()).p_fake for path in images}


def classify_on_pi(cpu, model, images_dir, tmp_path, binds) -> dict[str, float]:
    out = tmp_path / f"{cpu}-{model.name}.jsonl"
    on_pi(cpu, ["sh", "-c", f"dfd-lite classify {model} {images_dir} > {out}"], tmp_path, binds)
    return {json.loads(line)["file"]: json.loads(line)["p_fake"]
            for line in out.read_text().splitlines()}


def test_edge_wheel_on_pi4_and_pi5_answers_like_x86(pi_venv, tiny_export, tiny_test_images,
                                                    tmp_path):
    images = sorted(tiny_test_images.rglob("*.jpg"))
    script = " && ".join(
        [f"dfd-lite classify {tiny_export / m} {tiny_test_images} > {tmp_path}/{{cpu}}-{m}.jsonl"
         for m in MODELS] +
        [f"pip list --format=json > {tmp_path}/{{cpu}}-packages.json",
         "python -c 'import platform; print(platform.machine())'"])
    for cpu in CPUS:
        machine = on_pi(cpu, ["sh", "-c", script.format(cpu=cpu)], tmp_path,
                        [tiny_export, tiny_test_images])
        assert machine.strip().splitlines()[-1] == "aarch64"
        packages = {p["name"].lower() for p in
                    json.loads((tmp_path / f"{cpu}-packages.json").read_text())}
        assert {"dfd", "ai-edge-litert", "numpy", "pillow"} <= packages
        assert not {p for p in packages if p.startswith(("tensorflow", "keras", "flask"))}
        for model in MODELS:
            expected = x86_answers(tiny_export / model, images)
            lines = [json.loads(line) for line in
                     (tmp_path / f"{cpu}-{model}.jsonl").read_text().splitlines()]
            got = {line["file"]: line["p_fake"] for line in lines}
            assert got.keys() == expected.keys(), f"{cpu} {model}: not every image answered"
            if "int8" in model:
                step = Detector(str(tiny_export / model))._output["quantization"][0]
                tolerance = step * 1.0001
            else:
                tolerance = 1e-5
            worst = max(abs(got[f] - expected[f]) for f in expected)
            assert worst <= tolerance, f"{cpu} {model}: |p_pi - p_x86| up to {worst}"
            assert np.mean([(got[f] >= .5) == (expected[f] >= .5) for f in expected]) == 1.0


@pytest.fixture(scope="module")
def tiny_efficientnet_export(tiny_tfds, tmp_path_factory):
    """EfficientNet-Lite0 from ImageNet weights, one epoch at 32x32, exported."""
    from conftest import require_pretrained_weights, run_module
    require_pretrained_weights()
    base = tmp_path_factory.mktemp("tiny_effnet")
    run_module("dfd.train", f"--data_dir={tiny_tfds / 'tfds'}", f"--workdir={base / 'run'}",
               "--model=efficientnet_lite0", "--image_size=32", "--batch_size=8", "--epochs=1",
               "--freeze_epochs=0", "--augment=", "--early_stopping_patience=0")
    run_module("export", f"--workdir={base / 'run'}", f"--out={base / 'export'}",
               "--calibration_examples=24", "--int8_max_auc_drop=1", "--int8_max_flip_rate=1")
    return base / "export"


def test_pretrained_efficientnet_runs_on_the_pi(pi_venv, tiny_efficientnet_export,
                                                tiny_test_images, tmp_path):
    """float32 answers as on x86; int8 answers every image, within the spread ARM's and
    x86's int8 kernels show for a 16-block network (BUILD_NOTES.md: up to 37 steps)."""
    images = sorted(tiny_test_images.rglob("*.jpg"))
    binds = [tiny_efficientnet_export, tiny_test_images]
    for model, tolerance in (("model_float32.tflite", 1e-5), ("model_int8.tflite", 0.25)):
        path = tiny_efficientnet_export / model
        got = classify_on_pi(CPUS[0], path, tiny_test_images, tmp_path, binds)
        expected = x86_answers(path, images)
        assert got.keys() == expected.keys(), f"{model}: not every image answered"
        assert all(0.0 <= p <= 1.0 for p in got.values())
        worst = max(abs(got[f] - expected[f]) for f in expected)
        assert worst <= tolerance, f"{model}: |p_pi - p_x86| up to {worst}"
