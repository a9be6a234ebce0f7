"""Batch scoring with Beam: `dfd-score` runs the device runtime (`dfd.lite`) over any number
of images on any Beam runner, from a laptop's cores to a cluster, without TensorFlow."""
