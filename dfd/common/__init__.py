"""What every side of dfd shares, with no TensorFlow: the preprocessing contract and its
numpy implementation, checksums, metrics and native log capture.

The device runtime (`dfd.lite`, `dfd.serve`, `dfd.score`) may import this room and no other
of the training side; `tests/lite/test_boundaries.py` holds it to that.
"""
