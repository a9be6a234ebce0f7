"""The one preprocessing contract that training, export and the edge runtime all follow.

A detector that sees differently resized pixels at inference than in training loses exactly
the faint high-frequency traces it learned, so there is one definition here and two
implementations of it: TensorFlow ops in `dfd.train.pipeline` (used by training and the SavedModel)
and numpy in `dfd.common.preprocess` (used on the device). `tests/lite/test_preprocess_parity.py`
checks that both give the same tensor, bit for bit, on every JPEG and PNG it tries.

The contract, in order:
  1. Decode to 8-bit RGB (grayscale is replicated, alpha is dropped). JPEG uses the
     accurate integer IDCT with fancy chroma upsampling (libjpeg's defaults, what Pillow
     does; TensorFlow must be asked for `dct_method="INTEGER_ACCURATE"`, its default is the
     fast IDCT, which differs by up to 6 levels). EXIF orientation is ignored, as
     TensorFlow's decoders ignore it.
  2. Crop the largest centred square: top = (height - side) // 2, left = (width - side) // 2.
     Squashing instead would distort non-square sources (CelebA's 178x218 faces) but not
     square ones (StyleGAN's 256x256), handing the model a class cue that is not a face.
  3. Resize to `size` x `size` with bilinear interpolation, half-pixel centres and no
     antialiasing (TensorFlow's `tf.image.resize(..., "bilinear", antialias=False)`).
  4. Round to nearest with ties to even (numpy's and TensorFlow's rounding agree), clip
     to [0, 255] and store as uint8.
The model receives these uint8 values (as float32 0..255 or as uint8); its own first layer
maps them to whatever range it wants, so the contract never changes with the architecture.
"""

LABELS = ("real", "fake")
"""Class names by label index: the model outputs P(fake), label 1 = fake."""

FAKE_LABEL = 1

DEFAULT_IMAGE_SIZE = 128
"""The default recipe's input side. 160 px scored 0.04-0.05 higher on face swaps it trained on,
but carried over to GAN faces it never saw 0.12 worse on two seeds and gained nothing on the
other left-out families, for 1.5x the device time (BUILD_NOTES.md "Back to 128 px"). A run's own
size is in its model.json."""
CROP = "center_square"
JPEG_DCT_METHOD = "INTEGER_ACCURATE"
RESIZE_METHOD = "bilinear"
HALF_PIXEL_CENTERS = True
ANTIALIAS = False
VALUE_RANGE = (0, 255)
"""Pixel values the model input receives, after rounding to integers."""

MODEL_CARD = "model.json"
"""File beside exported models that says what they are and how to feed them."""

MAX_IMAGE_PIXELS = 40_000_000
"""Larger images are refused before decoding: a 20000x20000 JPEG is a decompression bomb."""


def describe(image_size: int) -> dict:
    """The contract as data, written into model.json so a device can check what it runs."""
    return {
        "image_size": int(image_size),
        "jpeg_idct": "accurate integer (libjpeg ISLOW), fancy upsampling",
        "crop": CROP,
        "resize_method": RESIZE_METHOD,
        "half_pixel_centers": HALF_PIXEL_CENTERS,
        "antialias": ANTIALIAS,
        "value_range": list(VALUE_RANGE),
        "rounding": "nearest, ties to even, then uint8",
    }
