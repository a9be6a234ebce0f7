"""Model zoo. Every model takes (S, S, 3) pixels 0..255 (see dfd.common.spec) and outputs P(fake).

Models normalise their own input, so the preprocessing contract never depends on the
architecture, and their last two layers stay float32 under mixed precision (a float16
sigmoid saturates and its loss underflows).
"""

from __future__ import annotations

import numpy as np
import keras
from keras import layers

_CONSTRUCTORS = {}

BN_MOMENTUM = 0.9
"""Keras's 0.99 needs thousands of steps before the moving statistics used at inference
match the batches; on a few thousand images that is never, and a model that is perfect in
training mode answers one class in inference mode. 0.9 settles in about fifty steps."""


def register(name):
    def wrap(fn):
        _CONSTRUCTORS[name] = fn
        return fn
    return wrap


def names() -> list[str]:
    return sorted(_CONSTRUCTORS)


def build(name: str, image_size: int, dropout: float = 0.2) -> keras.Model:
    """A fresh model by name, under whatever dtype policy and strategy scope are active."""
    if name not in _CONSTRUCTORS:
        raise ValueError(f"unknown model {name!r}; choose from {names()}")
    return _CONSTRUCTORS[name](image_size=image_size, dropout=dropout)


def _p_fake_head(x, dropout: float):
    x = layers.Dropout(dropout, name="head_dropout")(x) if dropout else x
    logit = layers.Dense(1, dtype="float32", name="logit")(x)
    p_fake = layers.Activation("sigmoid", dtype="float32", name="p_fake")(logit)
    return layers.Reshape((), dtype="float32", name="p_fake_flat")(p_fake)


@register("seed_cnn")
def seed_cnn(image_size: int = 128, dropout: float = 0.5) -> keras.Model:
    """The seed project's final CNN exactly as `../shared/SEED.md` states it, for a fair
    side-by-side comparison (8,943,809 parameters at 128x128).

    Rescaling by 1/127 (the seed's constant, no offset), four conv/BatchNorm/max-pool blocks
    with Keras's default BatchNorm momentum (0.99, not dfd's 0.9: the seed's behaviour is
    the point), then a 16384-to-512 dense stack with two dropouts (`dropout`, 0.5 in the
    seed) and a sigmoid. The only departure: the output is P(fake), not the seed's P(real),
    and it is computed in float32 like every dfd model's.
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 127.0, name="rescale")(inputs)
    for block, filters in enumerate((32, 64, 128, 256), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name="dense512")(x)
    x = layers.Dropout(dropout, name="dropout512")(x)
    x = layers.Dense(256, activation="relu", name="dense256")(x)
    x = layers.Dropout(dropout, name="dropout256")(x)
    x = layers.Dense(128, activation="relu", name="dense128")(x)
    return keras.Model(inputs, _p_fake_head(x, dropout=0.0), name="seed_cnn")


def high_pass_kernels() -> np.ndarray:
    """Three fixed 3x3 residual filters (SRM-style), as a depthwise kernel (3, 3, 3, 3).

    They strip image content and keep the pixel-level residue where resampling and
    generator traces live; a from-scratch model on little data finds them late or never.
    """
    second_h = np.array([[0, 0, 0], [1, -2, 1], [0, 0, 0]], np.float32) / 2
    second_v = second_h.T
    square = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], np.float32) / 4
    bank = np.stack([second_h, second_v, square], axis=-1)  # (3, 3, 3 filters)
    return np.repeat(bank[:, :, None, :], 3, axis=2)  # same bank for each colour


@keras.saving.register_keras_serializable("dfd")
class HighPassInitializer(keras.initializers.Initializer):
    """Initialises a depthwise kernel with `high_pass_kernels()`; serialisable by name."""

    def __call__(self, shape, dtype=None):
        kernel = high_pass_kernels()
        if tuple(shape) != kernel.shape:
            raise ValueError(f"high-pass kernel is {kernel.shape}, layer wants {shape}")
        return keras.ops.cast(kernel, dtype or "float32")

    def get_config(self):
        return {}


def _conv_bn(x, filters, kernel, stride, name, activation=True):
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x) if activation else x


def _inverted_residual(x, filters, stride, expand, name):
    """MobileNetV2's block: ReLU6 and BatchNorm only, so int8 quantization keeps it."""
    inputs = x
    channels = x.shape[-1]
    if expand != 1:  # a 1x1 conv to as many channels would only cost multiply-adds
        x = _conv_bn(x, channels * expand, 1, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False,
                               name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, filters, 1, 1, f"{name}_project", activation=False)
    if stride == 1 and channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


@register("dfdnet")
def dfdnet(image_size: int = 128, dropout: float = 0.2) -> keras.Model:
    """dfd's default: small, int8-friendly, and looking at full-resolution residues first.

    Two stems read the full-resolution image, one the pixels and one fixed high-pass
    residues, each a 3x3 stride-2 conv + BatchNorm of its own before they meet, so in int8
    the faint residues get their own quantization scale instead of drowning in the pixels'
    range. (Stride 2 halves the output grid, not what the kernels see; stride-1 stems made
    training 3x slower on CPU for no gain in validation AUC on the demo data.) Then
    MobileNetV2 blocks down to 1/32 resolution. About 0.3M parameters and 25M multiply-adds
    at 128x128; only CONV_2D, DEPTHWISE_CONV_2D, ADD, CONCATENATION, MEAN, FULLY_CONNECTED
    and LOGISTIC ops.
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    rgb = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    residue = layers.DepthwiseConv2D(
        3, padding="same", depth_multiplier=3, use_bias=False, trainable=False,
        depthwise_initializer=HighPassInitializer(),
        name="high_pass")(rgb)
    x = layers.Concatenate(name="stems")([
        _conv_bn(rgb, 16, 3, 2, "stem_rgb"),
        _conv_bn(residue, 16, 3, 2, "stem_residue"),
    ])
    x = _conv_bn(x, 24, 3, 2, "down1")
    for i, (filters, stride, expand) in enumerate([
            (32, 2, 3), (32, 1, 3), (64, 2, 4), (64, 1, 4), (128, 2, 4), (128, 1, 4)]):
        x = _inverted_residual(x, filters, stride, expand, f"block{i}")
    x = _conv_bn(x, 256, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, _p_fake_head(x, dropout), name="dfdnet")


EDGENET_BLOCKS = (
    # (output channels, stride, expand ratio): MobileNetV2-0.35's widths (8, 16, 24, 32, 56,
    # 112 after rounding to multiples of 8) with one or two blocks per stage instead of its
    # one to four, and no 1280-channel head.
    (8, 1, 1), (16, 2, 6), (16, 1, 6), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6),
    (56, 2, 6), (112, 1, 6))


@register("edgenet")
def edgenet(image_size: int = 128, dropout: float = 0.2) -> keras.Model:
    """A distillation student for int8 on ARM cores without dot-product instructions (a
    Raspberry Pi 4), where every multiply-add costs: MobileNetV2 at width 0.35, cut down.

    A 3x3 stride-2 stem and nine inverted-residual blocks (depthwise-separable, BatchNorm,
    ReLU6, no squeeze-excite: in int8 only CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN,
    FULLY_CONNECTED and LOGISTIC, besides the input's MUL/ADD rescale, QUANTIZE and RESHAPE,
    all of which XNNPACK and the Pi's builtin kernels run quantized),
    down to 1/32 resolution, a 1x1 conv to 384 channels and average pooling. No high-pass
    stem as in dfdnet: a plain network is the test of what a teacher alone can hand down.
    0.18M parameters and 18.6M multiply-adds at 128x128 as int8 .tflite (export/graph_cost.py:
    0.15x EfficientNet-Lite0's 125M, 0.66x dfdnet's 28M, 0.07x the seed CNN's 249M).
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn(x, 16, 3, 2, "stem")
    for i, (filters, stride, expand) in enumerate(EDGENET_BLOCKS):
        x = _inverted_residual(x, filters, stride, expand, f"block{i}")
    x = _conv_bn(x, 384, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, _p_fake_head(x, dropout), name="edgenet")


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

EFFICIENTNET_LITE_STAGES = {
    # (expand ratio, kernel, stride, output channels, repeats) per stage: EfficientNet-B0's
    # stages, Lite1 deeper (depth x1.1) and Lite2 also wider (width x1.1), as the published
    # checkpoints hold them. Lite drops squeeze-excite and uses ReLU6, which keeps int8
    # quantization clean, and keeps the stem (32), the first and last stage and the head
    # (1280) at Lite0's size whatever the scaling.
    "efficientnet_lite0": ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                           (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                           (6, 3, 1, 320, 1)),
    "efficientnet_lite1": ((1, 3, 1, 16, 1), (6, 3, 2, 24, 3), (6, 5, 2, 40, 3),
                           (6, 3, 2, 80, 4), (6, 5, 1, 112, 4), (6, 5, 2, 192, 5),
                           (6, 3, 1, 320, 1)),
    "efficientnet_lite2": ((1, 3, 1, 16, 1), (6, 3, 2, 24, 3), (6, 5, 2, 48, 3),
                           (6, 3, 2, 88, 4), (6, 5, 1, 120, 4), (6, 5, 2, 208, 5),
                           (6, 3, 1, 352, 1)),
}
EFFICIENTNET_BN_EPSILON = 1e-3
BACKBONE = "backbone"
"""Name of the sub-model a pretrained model's frozen warm-up freezes (see dfd.train)."""


def _effnet_bn(x, name):
    return layers.BatchNormalization(epsilon=EFFICIENTNET_BN_EPSILON, momentum=BN_MOMENTUM,
                                     name=name)(x)


def efficientnet_lite_backbone(image_size: int, variant: str = "efficientnet_lite0"
                               ) -> keras.Model:
    """An EfficientNet-Lite (0, 1 or 2) from pixels 0..255 to its 1280-channel feature map.

    Layer names follow the published PyTorch checkpoints' structure (stem, 16 or 21 MBConv
    blocks, head), so `dfd.train.pretrained` maps each tensor to exactly one Keras weight.
    Input normalisation is ImageNet's mean and standard deviation, as the weights expect.
    """
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Normalization(mean=[255.0 * m for m in IMAGENET_MEAN],
                             variance=[(255.0 * s) ** 2 for s in IMAGENET_STD],
                             name="imagenet_norm")(inputs)
    x = layers.Conv2D(32, 3, 2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(_effnet_bn(x, "stem_bn"))
    block = 0
    for expand, kernel, stride, filters, repeats in EFFICIENTNET_LITE_STAGES[variant]:
        for repeat in range(repeats):
            x = _mbconv(x, expand, kernel, stride if repeat == 0 else 1, filters, block)
            block += 1
    x = layers.Conv2D(1280, 1, use_bias=False, name="head_conv")(x)
    x = layers.ReLU(6.0, name="head_relu6")(_effnet_bn(x, "head_bn"))
    return keras.Model(inputs, x, name=BACKBONE)


def _mbconv(x, expand, kernel, stride, filters, block):
    """Inverted residual without squeeze-excite: [1x1 expand], depthwise, 1x1 project."""
    name = f"block{block}"
    inputs = x
    channels = x.shape[-1]
    if expand != 1:
        x = layers.Conv2D(channels * expand, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu6")(_effnet_bn(x, f"{name}_expand_bn"))
    x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                               name=f"{name}_dw")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(_effnet_bn(x, f"{name}_dw_bn"))
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _effnet_bn(x, f"{name}_project_bn")
    if stride == 1 and channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def _efficientnet_lite(variant: str, image_size: int, dropout: float) -> keras.Model:
    backbone = efficientnet_lite_backbone(image_size, variant)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.GlobalAveragePooling2D(name="pool")(backbone(inputs))
    return keras.Model(inputs, _p_fake_head(x, dropout), name=variant)


@register("efficientnet_lite0")
def efficientnet_lite0(image_size: int = 224, dropout: float = 0.2) -> keras.Model:
    """EfficientNet-Lite0 (3.4M parameters without ImageNet's classifier) with dfd's
    P(fake) head. ImageNet weights come from `dfd.train.pretrained` (--init=imagenet)."""
    return _efficientnet_lite("efficientnet_lite0", image_size, dropout)


@register("efficientnet_lite1")
def efficientnet_lite1(image_size: int = 240, dropout: float = 0.2) -> keras.Model:
    """EfficientNet-Lite1 (21 blocks against Lite0's 16, same widths), ImageNet weights
    from its own package: the deeper backbone at the same input, to weigh against Lite0
    at the device's budget (issue 21)."""
    return _efficientnet_lite("efficientnet_lite1", image_size, dropout)


@register("efficientnet_lite2")
def efficientnet_lite2(image_size: int = 260, dropout: float = 0.2) -> keras.Model:
    """EfficientNet-Lite2: Lite1's depth, 10% wider stages, ImageNet weights from its own
    package."""
    return _efficientnet_lite("efficientnet_lite2", image_size, dropout)
