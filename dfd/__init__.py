"""dfd: a deepfake image detector from TFDS data to a Raspberry Pi.

This package's top level imports nothing heavy: `dfd.lite` and `dfd.serve` must import
on a device that has numpy, pillow and a LiteRT interpreter but no TensorFlow.
"""

__version__ = "0.1.0"
