"""Generates dfd's embedded demo data: an honest forensic task, in Kaggle's folder layout.

Real face images cannot ship with dfd (licences), so the demo makes its own. They are NOT
faces. "Real" images have natural-image statistics: a 1/f^alpha power spectrum, correlated
colour channels, a few soft-edged objects, and sensor noise, all at full resolution. "Fake"
images are made the way many generators make them: content synthesised at half
resolution, then upsampled 2x by nearest-neighbour + a 3x3 smoothing filter whose
taps differ slightly between even and odd output pixels (the checkerboard that learned
upsampling leaves), with the same sensor noise and the same JPEG qualities as the real
ones. The class signal is therefore only the upsampling trace: the missing top octave and
the periodic peaks it leaves in the spectrum, which is what detectors look for in GAN
images. Classes cannot be told apart by size, format, JPEG quality or brightness.

    python -m dfd.builders.demo_data --out=runs/demo/source [--zip]
"""

from __future__ import annotations

import argparse
import io
import os
import zipfile

import numpy as np
from PIL import Image

DEFAULT_COUNTS = {"Train": 600, "Validation": 150, "Test": 150}
"""Images per class in each split."""


def _power_law_field(rng: np.random.Generator, size: int, alpha: float) -> np.ndarray:
    """A (size, size) field with a 1/f^alpha amplitude spectrum, scaled to unit std."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape))
    spectrum /= radius ** alpha
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(size, size))
    return field / (field.std() + 1e-8)


def natural_content(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float image in [0, 255] with natural-image statistics, no noise."""
    alpha = rng.uniform(0.9, 1.3)  # amplitude slope; power spectrum ~ 1/f^(2 alpha)
    fields = np.stack([_power_law_field(rng, size, alpha) for _ in range(3)], axis=-1)
    mixing = np.eye(3) * rng.uniform(0.2, 0.6) + rng.uniform(0.3, 0.8)  # correlated colours
    image = fields @ mixing.T
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(rng.integers(1, 4)):  # soft-edged objects: smooth regions with edges
        cy, cx = rng.uniform(0.2, 0.8, size=2)
        ry, rx = rng.uniform(0.1, 0.35, size=2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        mask = 1.0 / (1.0 + np.exp(np.minimum((inside - 1.0) * rng.uniform(8, 30), 50.0)))
        image += mask[..., None] * rng.normal(0, 1.5, size=3)
    image = (image - image.mean()) / (image.std() + 1e-8)
    image = image * rng.uniform(30, 55) + rng.uniform(90, 160)
    return np.clip(image, 0, 255)


def learned_upsample_2x(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Nearest-neighbour 2x, then a 3x3 filter whose weights depend on output parity."""
    up = image.repeat(2, axis=0).repeat(2, axis=1)
    padded = np.pad(up, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    height, width = up.shape[:2]
    out = np.zeros_like(up)
    base = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64)
    for py in range(2):
        for px in range(2):
            kernel = base + rng.normal(0, 0.35, size=(3, 3))  # per-phase mismatch
            kernel /= kernel.sum()
            for dy in range(3):
                for dx in range(3):
                    out[py::2, px::2] += kernel[dy, dx] * padded[
                        dy + py:dy + py + height:2, dx + px:dx + px + width:2]
    return out


def make_image(rng: np.random.Generator, size: int, fake: bool) -> bytes:
    """One demo JPEG; the only difference between the classes is how content was made."""
    if fake:
        content = learned_upsample_2x(rng, natural_content(rng, size // 2))
    else:
        content = natural_content(rng, size)
    noisy = content + rng.normal(0, rng.uniform(1.0, 3.0), size=content.shape)
    pixels = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=int(rng.integers(80, 96)))
    return out.getvalue()


def generate(out_dir: str, counts: dict[str, int] | None = None, size: int = 128,
             seed: int = 0) -> str:
    """Writes `out_dir/Dataset/{Train,Validation,Test}/{Real,Fake}/*.jpg`; returns Dataset/."""
    counts = DEFAULT_COUNTS if counts is None else counts
    root = os.path.join(out_dir, "Dataset")
    for split_index, (split, per_class) in enumerate(counts.items()):
        for label, folder in enumerate(("Real", "Fake")):
            rng = np.random.default_rng([seed, split_index, label])
            target = os.path.join(root, split, folder)
            os.makedirs(target, exist_ok=True)
            for i in range(per_class):
                name = f"{folder.lower()}_{i:05d}.jpg"
                with open(os.path.join(target, name), "wb") as f:
                    f.write(make_image(rng, size, fake=bool(label)))
    return root


def zip_folder(root: str, archive: str) -> str:
    """Packs a Dataset/ folder the way Kaggle's download is packed (Dataset/ at the top)."""
    parent = os.path.dirname(root)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for folder, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                path = os.path.join(folder, name)
                z.write(path, os.path.relpath(path, parent))
    return archive


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to create Dataset/ in")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (even)")
    parser.add_argument("--seed", type=int, default=0)
    for split, n in DEFAULT_COUNTS.items():
        parser.add_argument(f"--{split.lower()}", type=int, default=n,
                            help=f"images per class in {split}")
    parser.add_argument("--zip", action="store_true",
                        help="also write demo.zip beside Dataset/, like Kaggle's download")
    args = parser.parse_args(argv)
    if args.size % 2 or args.size < 8:
        parser.error(f"--size must be even and at least 8, got {args.size}")
    counts = {"Train": args.train, "Validation": args.validation, "Test": args.test}
    root = generate(args.out, counts, args.size, args.seed)
    print(f"wrote {sum(counts.values()) * 2} images to {root}")
    if args.zip:
        print(f"wrote {zip_folder(root, os.path.join(args.out, 'demo.zip'))}")


if __name__ == "__main__":
    main()
