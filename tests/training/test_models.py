"""The model zoo's promises: the seed's CNN is the seed's, and every model says P(fake)."""

import numpy as np
import pytest

from dfd.train import models

SEED_LAYERS = [
    ("InputLayer", None), ("Rescaling", None),
    ("Conv2D", 32), ("BatchNormalization", None), ("MaxPooling2D", None),
    ("Conv2D", 64), ("BatchNormalization", None), ("MaxPooling2D", None),
    ("Conv2D", 128), ("BatchNormalization", None), ("MaxPooling2D", None),
    ("Conv2D", 256), ("BatchNormalization", None), ("MaxPooling2D", None),
    ("Flatten", None), ("Dense", 512), ("Dropout", None), ("Dense", 256), ("Dropout", None),
    ("Dense", 128), ("Dense", 1), ("Activation", None), ("Reshape", None),
]


def test_seed_cnn_is_the_seed_projects_final_model():
    """SEED.md: four same-padded conv/BN/pool blocks, 16384 -> 512 -> 256 -> 128 -> 1,
    about 8.94M parameters, Keras's default BatchNorm momentum, rescaling by 1/127."""
    model = models.build("seed_cnn", 128, dropout=0.5)
    found = [(type(layer).__name__, getattr(layer, "units", getattr(layer, "filters", None)))
             for layer in model.layers]
    assert found == SEED_LAYERS
    assert model.count_params() == 8_943_809
    assert model.get_layer("flatten").output.shape[-1] == 16384
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            assert layer.padding == "same" and layer.kernel_size == (3, 3)
            assert layer.strides == (1, 1) and layer.activation.__name__ == "relu"
        if type(layer).__name__ == "BatchNormalization":
            assert layer.momentum == pytest.approx(0.99)
        if type(layer).__name__ == "Dropout":
            assert layer.rate == 0.5
    assert model.get_layer("rescale").scale == pytest.approx(1 / 127)
    assert model.get_layer("rescale").offset == 0


@pytest.mark.parametrize("name", models.names())
def test_every_model_maps_pixels_to_one_probability(name):
    model = models.build(name, 64)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype("float32")
    p = np.asarray(model(pixels, training=False))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
