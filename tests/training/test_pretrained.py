"""ImageNet EfficientNet-Lite0 weights: read without torch, converted exactly, nothing left over."""

import io
import pickle

import keras
import numpy as np
import pytest

from conftest import require_pretrained_weights
from dfd.train import models, pretrained, torch_checkpoint


@pytest.fixture(scope="module")
def state():
    require_pretrained_weights()
    return torch_checkpoint.read_state_dict(pretrained.checkpoint_path())


@pytest.fixture(scope="module")
def converted(state, tmp_path_factory):
    model = models.build("efficientnet_lite0", 64)
    pretrained.assign(model.get_layer(models.BACKBONE), state)
    return model


def test_checkpoint_holds_the_published_tensors(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.running_var"].dtype == np.float32 and (state["_bn0.running_var"] >= 0).all()


def same_padding(x, kernel, stride):
    """TF 'SAME' padding of an (H, W, C) array: the extra pixel goes after."""
    pads = []
    for size in x.shape[:2]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, pads + [(0, 0)])


def conv(x, weight_oihw, stride):
    o, i, k, _ = weight_oihw.shape
    x = same_padding(x, k, stride)
    out_h, out_w = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    out = np.zeros((out_h, out_w, o))
    for dy in range(k):
        for dx in range(k):
            patch = x[dy:dy + stride * out_h:stride, dx:dx + stride * out_w:stride]
            out += patch @ weight_oihw[:, :, dy, dx].T
    return out


def depthwise(x, weight_c1hw, stride):
    c, _, k, _ = weight_c1hw.shape
    x = same_padding(x, k, stride)
    out_h, out_w = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    out = np.zeros((out_h, out_w, c))
    for dy in range(k):
        for dx in range(k):
            out += x[dy:dy + stride * out_h:stride, dx:dx + stride * out_w:stride] \
                * weight_c1hw[:, 0, dy, dx]
    return out


def batch_norm(x, state, prefix):
    scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"] + 1e-3)
    return (x - state[f"{prefix}.running_mean"]) * scale + state[f"{prefix}.bias"]


def relu6(x):
    return np.clip(x, 0, 6)


def test_stem_and_first_block_equal_a_numpy_reference(state, converted):
    pixels = np.random.default_rng(0).uniform(0, 255, (64, 64, 3))
    x = (pixels - 255 * np.array(models.IMAGENET_MEAN)) / (255 * np.array(models.IMAGENET_STD))
    x = relu6(batch_norm(conv(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    x = relu6(batch_norm(depthwise(x, state["_blocks.0._depthwise_conv.weight"], 1), state,
                         "_blocks.0._bn1"))
    expected = batch_norm(conv(x, state["_blocks.0._project_conv.weight"], 1), state,
                          "_blocks.0._bn2")
    backbone = converted.get_layer(models.BACKBONE)
    probe = keras.Model(backbone.input, backbone.get_layer("block0_project_bn").output)
    got = np.asarray(probe(pixels[None].astype(np.float32), training=False))[0]
    assert got.shape == expected.shape == (32, 32, 16)
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)


def test_every_batch_norm_keeps_the_source_statistics(state, converted):
    backbone = converted.get_layer(models.BACKBONE)
    sources = pretrained.torch_sources(backbone)
    checked = 0
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            prefix = sources[layer.name][0][0].rsplit(".", 1)[0]
            np.testing.assert_array_equal(layer.moving_mean.numpy(),
                                          state[f"{prefix}.running_mean"])
            np.testing.assert_array_equal(layer.moving_variance.numpy(),
                                          state[f"{prefix}.running_var"])
            checked += 1
    assert checked == 2 + 16 * 3 - 1  # stem, head, and 3 per block but the first (no expand)


def test_a_tensor_left_unused_or_missing_is_an_error(state):
    backbone = models.build("efficientnet_lite0", 64).get_layer(models.BACKBONE)
    extra = {**state, "_blocks.16._depthwise_conv.weight": np.zeros((8, 1, 3, 3), np.float32)}
    with pytest.raises(pretrained.PretrainedError, match=r"unused \['_blocks\.16\."):
        pretrained.assign(backbone, extra)
    missing = {k: v for k, v in state.items() if k != "_blocks.3._bn1.running_var"}
    with pytest.raises(pretrained.PretrainedError, match="no _blocks.3._bn1.running_var"):
        pretrained.assign(backbone, missing)


def test_converted_weights_are_cached_by_the_source_sha256(state, tmp_path, monkeypatch):
    monkeypatch.setenv("DFD_CACHE_DIR", str(tmp_path))
    first = models.build("efficientnet_lite0", 64)
    path = pretrained.load_imagenet(first)
    assert path.startswith(str(tmp_path)) and "57934424" in path  # the file's sha256 prefix
    second = models.build("efficientnet_lite0", 64)
    assert pretrained.load_imagenet(second) == path
    for a, b in zip(first.get_layer(models.BACKBONE).weights,
                    second.get_layer(models.BACKBONE).weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_reader_refuses_a_pickle_that_would_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))
    stream = io.BytesIO()
    for obj in (torch_checkpoint.MAGIC_NUMBER, torch_checkpoint.PROTOCOL_VERSION, {},
                Exploit()):
        pickle.dump(obj, stream, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(stream.getvalue())
    with pytest.raises(torch_checkpoint.CheckpointError, match="refusing to unpickle"):
        torch_checkpoint.read_state_dict(str(path))


@pytest.mark.parametrize("model,blocks,last_width", [("efficientnet_lite1", 21, 320),
                                                     ("efficientnet_lite2", 21, 352)])
def test_lite1_and_lite2_take_every_tensor_of_their_own_checkpoint(model, blocks, last_width):
    """The larger backbones from their own packages: every tensor lands on one Keras
    weight (assign raises otherwise), the depth and widths are the checkpoint's."""
    require_pretrained_weights(model)
    weights = torch_checkpoint.read_state_dict(pretrained.checkpoint_path(model))
    backbone = models.build(model, 64).get_layer(models.BACKBONE)
    pretrained.assign(backbone, weights)
    assert len({k.split(".")[1] for k in weights if k.startswith("_blocks.")}) == blocks
    assert backbone.get_layer(f"block{blocks - 1}_project_conv").filters == last_width
    np.testing.assert_array_equal(backbone.get_layer("stem_conv").get_weights()[0],
                                  weights["_conv_stem.weight"].transpose(2, 3, 1, 0))
    assert not any(f"block{blocks}_dw" == layer.name for layer in backbone.layers)


def test_every_model_with_imagenet_weights_defaults_to_them():
    from dfd.train import trainer

    assert trainer.PRETRAINED_MODELS == pretrained.SUPPORTED
    assert set(pretrained.SUPPORTED) <= set(models.names())


def test_imagenet_init_is_refused_for_models_without_weights():
    with pytest.raises(pretrained.PretrainedError, match="no ImageNet weights for dfdnet"):
        pretrained.load_imagenet(models.build("dfdnet", 64))


def test_a_broken_weights_install_fails_instead_of_skipping(monkeypatch, tmp_path):
    """The package found but its checkpoint missing: the tests above must fail, not skip."""
    import importlib.machinery
    import importlib.util

    fake = importlib.machinery.ModuleSpec(pretrained.PACKAGE, None,
                                          origin=str(tmp_path / "__init__.py"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: fake if name == pretrained.PACKAGE
                        else real_find_spec(name, *a))
    require_pretrained_weights()  # does not skip
    with pytest.raises(pretrained.PretrainedError, match="is installed but .* is missing"):
        pretrained.checkpoint_path()
