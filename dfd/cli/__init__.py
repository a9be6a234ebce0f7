"""What the TensorFlow-side binaries share: a quiet start-up (`quiet`: framework INFO logs
only on request) and the flags more than one of them reads (`run_flags`).

The binaries themselves stay in their rooms (`dfd/train/__main__.py`,
`dfd/evaluate/__main__.py`, `export/__main__.py`, `builders/build.py`); the device programs
(dfd-lite, dfd-serve, dfd-score) share `dfd.lite.options` instead and never import this room.
"""
