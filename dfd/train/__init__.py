"""The training room: the tf.data input pipeline, augmentation, the model zoo and its
ImageNet weights, distribution and loss scaling, and the trainer itself.

`python -m dfd.train` (`__main__.py`) is the binary: it owns the training flags and hands
their values to `trainer.train_and_evaluate`. Importing this package, or any library module
in it, changes nothing in the process: no file descriptor is redirected and TensorFlow's
devices are not initialised until a binary asks.
"""
