"""The pix2pixHD perceptual loss: L1 between VGG19 features of two images.

Five slices of torchvision's ``vgg19().features`` end at relu1_1, relu2_1,
relu3_1, relu4_1 and relu5_1 (pix2pixHD's ``Vgg19``); the loss is
``sum_i w_i * L1(f_i(x), f_i(y))`` with ``w = (1/32, 1/16, 1/8, 1/4, 1)``.

The network is written here, layer for layer as torchvision's (conv3x3 with
padding 1, ReLU, 2x2 max pool), so torchvision's ImageNet weights load from
their usual file without torchvision. Weights are never downloaded: they come
from an explicit path or from the torch hub cache, where torchvision itself
would have put them (``<torch.hub.get_dir()>/checkpoints/vgg19-dcbb9e9d.pth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from corrwise.errors import CheckpointError, InputError
from corrwise.train.flow.base import check_image_pair
from corrwise.train.weights import hub_checkpoint_dir, locate_weights, read_state_dict
from torch import nn

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"
# torchvision's VGG19 ("E") feature configuration, cut after conv5_1: features[0:30] end at relu5_1.
VGG19_CONFIG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M")
VGG19_CONFIG += (512, 512, 512, 512, "M", 512)
SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)  # pix2pixHD: deeper layers weigh more
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIZE = 16  # four 2x2 max pools before relu5_1


def vgg19_features() -> nn.Sequential:
    """VGG19 ``features[0:30]`` (conv1_1 ... relu5_1), indexed exactly as torchvision's."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


def default_weights_path() -> Path:
    """torchvision's cache file for VGG19: ``<torch.hub.get_dir()>/checkpoints/vgg19-dcbb9e9d.pth``."""
    return hub_checkpoint_dir() / VGG19_FILE


def resolve_weights_path(weights: str | Path | None) -> Path:
    """The weights file to load: ``weights`` if given, else the hub cache; CheckpointError when absent."""
    return locate_weights(weights, VGG19_FILE, "VGG19 weights for the perceptual loss", VGG19_URL)


def _listed(keys: list[str], limit: int = 6) -> str:
    """``a, b, c`` or ``a, b, ... (12 in all)`` for long lists."""
    shown = ", ".join(keys[:limit])
    return shown if len(keys) <= limit else f"{shown}, ... ({len(keys)} in all)"


def _shape(value: object) -> str:
    """A tensor's shape, or the type of anything else, for error messages."""
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def check_vgg19_keys(state: Mapping[str, object], expected: Mapping[str, torch.Size], path: Path) -> None:
    """CheckpointError naming the keys of ``expected`` that ``state`` lacks or holds with another shape."""
    missing = [key for key in expected if key not in state]
    wrong = [
        f"{key} {_shape(state[key])} (expected {tuple(shape)})"
        for key, shape in expected.items()
        if key in state and (not isinstance(state[key], torch.Tensor) or state[key].shape != shape)
    ]
    if not missing and not wrong:
        return
    problems = [f"missing keys: {_listed(missing)}"] if missing else []
    problems += [f"wrong shapes: {_listed(wrong)}"] if wrong else []
    raise CheckpointError(
        f"{path} is not a torchvision VGG19 state dict ({'; '.join(problems)}); expected the tensors "
        f"of {VGG19_FILE} ({VGG19_URL}), keys features.0.weight ... features.28.bias"
    )


def load_vgg19_features(path: Path) -> nn.Sequential:
    """:func:`vgg19_features` with the ``features.*`` tensors of a torchvision-format file.

    Keys beyond relu5_1 (``features.30`` to ``features.34``, ``classifier.*``) are ignored.
    """
    features = vgg19_features()
    state = read_state_dict(path, "VGG19 weights")
    expected = {f"features.{name}": tensor.shape for name, tensor in features.state_dict().items()}
    check_vgg19_keys(state, expected, path)
    features.load_state_dict({name: state[f"features.{name}"] for name in features.state_dict()})
    return features


class VGGLoss(nn.Module):
    """pix2pixHD's VGG19 perceptual loss, ``sum_i w_i * L1(f_i(x), f_i(y))``, on frozen ImageNet weights.

    Args:
        weights: torchvision's ``vgg19-dcbb9e9d.pth`` (``.pth``, loaded with
            ``weights_only=True``) or a ``.safetensors`` file with the same keys;
            None looks in the torch hub cache (:func:`default_weights_path`).
            Missing file, or wrong keys: CheckpointError.
        imagenet_norm: True (default) maps [-1, 1] to [0, 1] and standardises
            with the ImageNet mean and std, the input the pretrained weights were
            trained on, so each layer sees activations of the scale and offset it
            was trained for and the features mean what they meant on ImageNet
            (LPIPS does the same). pix2pixHD fed its [-1, 1] images unnormalised;
            pass False to reproduce it exactly. The two differ in magnitude (the
            normalised input spans about 2.2 times the range), so loss weights
            tuned for one need retuning for the other.
        detach_y: True computes ``f_i(y)`` without gradient, as pix2pixHD does for
            its target, saving a second backward graph. False (default) lets
            gradients reach y when it requires them: the corr-wise loss's second
            term, D(warp(T), P), has the prediction as y.

    The VGG parameters are frozen (``requires_grad=False``) and the network
    stays in eval mode even under ``.train()``. The module moves itself to the
    device and dtype of ``x`` on first use (and whenever they change).
    """

    def __init__(
        self, weights: str | Path | None = None, imagenet_norm: bool = True, detach_y: bool = False
    ) -> None:
        super().__init__()
        self.features = load_vgg19_features(resolve_weights_path(weights))
        self.features.requires_grad_(False)
        self.imagenet_norm, self.detach_y = bool(imagenet_norm), bool(detach_y)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> VGGLoss:
        """Set the mode of the module but keep the frozen VGG in eval mode."""
        super().train(mode)
        self.features.eval()
        return self

    def vgg_features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The five slice outputs (relu1_1 ... relu5_1) of (B, 3, H, W) images in [-1, 1]."""
        if self.imagenet_norm:
            image = ((image + 1) / 2 - self.mean) / self.std  # (B, 3, H, W) ImageNet-standardised
        taps = {end - 1 for _, end in SLICES}
        outputs = []
        for index, layer in enumerate(self.features):
            image = layer(image)
            if index in taps:
                outputs.append(image)  # (B, 64 ... 512, H / 2^k, W / 2^k)
        return outputs

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, 3, H, W) RGB in [-1, 1], H, W >= 16. Returns: 0-d tensor, dtype of x."""
        check_image_pair(x, y, "VGGLoss")
        channels, height, width = x.shape[1:]
        if channels != 3 or min(height, width) < MIN_SIZE:
            raise InputError(
                f"VGGLoss: expected RGB images (B, 3, H, W) with H, W >= {MIN_SIZE}, got {tuple(x.shape)}; "
                "repeat gray channels to 3 and use larger images"
            )
        if self.mean.device != x.device or self.mean.dtype != x.dtype:
            self.to(device=x.device, dtype=x.dtype)
        features_x = self.vgg_features(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach_y):
            features_y = self.vgg_features(y.to(x.dtype))
        pairs = zip(LAYER_WEIGHTS, features_x, features_y, strict=True)
        terms = [weight * F.l1_loss(fx, fy) for weight, fx, fy in pairs]
        return torch.stack(terms).sum()

    def extra_repr(self) -> str:
        return f"imagenet_norm={self.imagenet_norm}, detach_y={self.detach_y}"
