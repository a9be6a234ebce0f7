"""The runtime's name for `dfd.imaging.gate`, the one decoding gate of every surface.

Kept so `dfd.lite` callers (the CLI, the server, benchmarks) read as before; the gate
itself lives outside `dfd.lite` so the TFDS builder can use it without importing the
device runtime.
"""

from dfd.imaging.gate import (  # noqa: F401 - re-exported
    FORMATS, MAX_ASPECT_RATIO, MAX_FILE_BYTES, BadDimensionsError, CorruptImageError,
    EmptyImageError, ImageError, MetadataBombError, NotAnImageError, TooLargeError,
    TooManyPixelsError, check_dimensions, decode, decode_rgb, open_image, to_rgb)
