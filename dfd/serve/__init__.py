"""Serve room: the upload web page and JSON API on the tiny runtime (no TensorFlow)."""
