"""Image quality metrics for evaluation, one value per image: PSNR, SSIM, MS-SSIM and LPIPS.

All take two batches of images (B, C, H, W) in [-1, 1] and return a (B,)
tensor, one value per image (the mean over its channels where the metric
averages them):

- :func:`psnr`: dB on the [0, 1] scale (peak 1 after mapping [-1, 1] to [0, 1]),
  ``10 log10(1 / MSE)``; ``inf`` for identical images.
- :func:`ssim`, :func:`ms_ssim` (both at once: :func:`ssim_and_ms_ssim`): the
  reference definitions of :mod:`corrwise.train.losses.ssim` (equal to
  scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``), per image, computed with that module's
  helpers. MS-SSIM uses Wang's five scales when the image is large enough
  (H, W >= 161) and fewer on smaller images (:func:`ms_ssim_weights`); the
  evaluator records the number of scales with each clip.
- :class:`LPIPS`: Zhang et al.'s learned perceptual metric, v0.1 on AlexNet
  features, written here layer for layer so torchvision's AlexNet weights and
  the LPIPS linear heads load from their usual files without torchvision or
  the ``lpips`` package. Lower is more similar; 0 for identical images.

Weights are never downloaded. :func:`load_lpips` returns ``(None, reason)``
when they are not in the torch hub cache, so an evaluation can go on without
LPIPS; an explicit path that does not exist is a CheckpointError.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from corrwise.errors import CheckpointError, ConfigError, InputError
from corrwise.train.flow.base import check_image_pair
from corrwise.train.losses.ssim import MS_SSIM_WEIGHTS, gaussian_window, ms_ssim_min_size
from corrwise.train.losses.ssim import _downsample as downsample
from corrwise.train.losses.ssim import _ssim_and_cs as ssim_and_cs
from corrwise.train.weights import hub_checkpoint_dir, locate_weights, read_state_dict
from torch import nn

MS_SSIM_MAX_SCALES = len(MS_SSIM_WEIGHTS)  # 5: Wang et al. 2003
WINDOW, SIGMA = 11, 1.5  # the reference SSIM window: 11 Gaussian taps, sigma 1.5 pixels

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet ImageNet weights
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
LPIPS_FILE = "lpips_alex_v0.1.pth"  # the LPIPS repository's lpips/weights/v0.1/alex.pth, renamed
LPIPS_SOURCE = (
    "alex.pth from the LPIPS repository (github.com/richzhang/PerceptualSimilarity, "
    "lpips/weights/v0.1/alex.pth; also inside the 'lpips' pip package)"
)
# torchvision's alexnet().features up to relu5: (out channels, kernel, stride, padding), then "M" = max pool.
ALEXNET_CONFIG: tuple[tuple[int, int, int, int] | str, ...] = (
    (64, 11, 4, 2),
    "M",
    (192, 5, 1, 2),
    "M",
    (384, 3, 1, 1),
    (256, 3, 1, 1),
    (256, 3, 1, 1),
)
ALEXNET_TAPS = (1, 4, 7, 9, 11)  # indices of relu1 ... relu5 in features
LPIPS_CHANNELS = (64, 192, 384, 256, 256)  # channels at the five taps
LPIPS_SHIFT = (-0.030, -0.088, -0.188)  # LPIPS's ScalingLayer, applied to [-1, 1] RGB
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_MIN_SIZE = 31  # smallest H, W whose relu5 map is non-empty (stride-4 conv, two 3x3/2 max pools)
NORM_EPS = 1e-10  # LPIPS's normalize_tensor


def _per_image(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    """InputError unless x, y are (B, C, H, W) floating tensors of one shape in [-1, 1] with B >= 1."""
    if isinstance(x, torch.Tensor) and x.numel() == 0:
        raise InputError(f"{what}: expected at least one image, got an empty batch {tuple(x.shape)}")
    check_image_pair(x, y, what)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image on the [0, 1] scale.

    Args:
        x, y: (B, C, H, W) in [-1, 1], same shape.

    Returns:
        (B,) float64 in dB: ``10 log10(1 / MSE)`` with MSE of ``(x + 1) / 2`` and
        ``(y + 1) / 2`` over C, H and W; ``inf`` where the images are identical.
    """
    _per_image(x, y, "psnr")
    diff = (x.detach().double() - y.detach().double()) / 2  # (B, C, H, W) on the [0, 1] scale
    mse = diff.square().flatten(1).mean(dim=1)  # (B,)
    return 10 * torch.log10(1 / mse)  # 1 / 0 = inf: identical images


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales (at most 5) an H x W image supports; 0 below the 11-pixel window."""
    levels = MS_SSIM_MAX_SCALES
    while levels > 0 and min(height, width) < ms_ssim_min_size(levels, WINDOW):
        levels -= 1
    return levels


def ms_ssim_weights(height: int, width: int) -> tuple[float, ...]:
    """MS-SSIM exponents (finest scale first) for an H x W image.

    Wang's five weights when ``min(H, W) >= ms_ssim_min_size(5)`` (161 pixels);
    otherwise the first L of them, for the largest L the image allows,
    renormalised to sum to 1. One scale is plain SSIM.

    Raises:
        InputError: the image is smaller than the 11 x 11 window.
    """
    levels = ms_ssim_scales(height, width)
    if levels == 0:
        raise InputError(f"ms_ssim: images must be at least {WINDOW}x{WINDOW} pixels, got {height}x{width}")
    if levels == MS_SSIM_MAX_SCALES:
        return tuple(MS_SSIM_WEIGHTS)
    first = MS_SSIM_WEIGHTS[:levels]
    return tuple(w / sum(first) for w in first)


@torch.no_grad()
def ssim_and_ms_ssim(
    x: torch.Tensor, y: torch.Tensor, weights: tuple[float, ...] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and MS-SSIM per image in one pass (they share the finest scale's statistics).

    The definitions of :mod:`corrwise.train.losses.ssim` (11-tap Gaussian window,
    sigma 1.5, valid filtering; equal to scikit-image's ``structural_similarity(
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``), averaged per
    image over its channels instead of over the whole batch.

    Args:
        x, y: (B, C, H, W) in [-1, 1], same shape, H and W >= 11.
        weights: MS-SSIM exponents per scale, finest first; None picks
            :func:`ms_ssim_weights` for the image size (``len(weights)`` scales).

    Returns:
        SSIM (B,) in [-1, 1] and MS-SSIM (B,) in [0, 1], both 1 for identical images;
        float32 (float64 for float64 inputs).
    """
    _per_image(x, y, "ssim")
    height, width = x.shape[2:]
    weights = ms_ssim_weights(height, width) if weights is None else tuple(float(w) for w in weights)
    if not weights or any(not w >= 0 for w in weights):
        raise ConfigError(f"ms_ssim: weights must be a non-empty sequence of numbers >= 0, got {weights!r}")
    if min(height, width) < ms_ssim_min_size(len(weights), WINDOW):
        raise InputError(
            f"ms_ssim: {len(weights)} scales need H and W >= {ms_ssim_min_size(len(weights), WINDOW)}, "
            f"got {height}x{width}"
        )
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.detach().to(dtype), y.detach().to(dtype)
    taps = gaussian_window(WINDOW, SIGMA, x)
    level_ssim, level_cs = ssim_and_cs(x, y, taps)  # each (B, C)
    first_ssim, terms = level_ssim, []
    for _ in range(len(weights) - 1):
        terms.append(level_cs)
        x, y = downsample(x), downsample(y)
        level_ssim, level_cs = ssim_and_cs(x, y, taps)
    terms.append(level_ssim)
    stacked = torch.relu(torch.stack(terms))  # (levels, B, C)
    powers = torch.tensor(weights, device=x.device, dtype=dtype).view(-1, 1, 1)
    return first_ssim.mean(dim=1), torch.prod(stacked**powers, dim=0).mean(dim=1)


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM per image: (B, C, H, W) in [-1, 1], H, W >= 11 -> (B,) in [-1, 1] (:func:`ssim_and_ms_ssim`)."""
    return ssim_and_ms_ssim(x, y, weights=(1.0,))[0]


def ms_ssim(x: torch.Tensor, y: torch.Tensor, weights: tuple[float, ...] | None = None) -> torch.Tensor:
    """MS-SSIM per image: (B, C, H, W) in [-1, 1] -> (B,) in [0, 1]; see :func:`ssim_and_ms_ssim`.

    ``weights`` None uses Wang's five scales on images of 161 pixels and more, fewer below
    (:func:`ms_ssim_weights`).
    """
    return ssim_and_ms_ssim(x, y, weights)[1]


# ---------------------------------------------------------------- LPIPS


def alexnet_features() -> nn.Sequential:
    """torchvision's ``alexnet().features[0:12]`` (conv1 ... relu5), indexed exactly as torchvision's."""
    layers: list[nn.Module] = []
    channels = 3
    for item in ALEXNET_CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            continue
        out, kernel, stride, padding = item
        layers += [nn.Conv2d(channels, out, kernel, stride, padding), nn.ReLU(inplace=True)]
        channels = out
    return nn.Sequential(*layers)


def _check_keys(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size], path: Path) -> None:
    """CheckpointError naming the keys of ``expected`` that ``state`` lacks or holds with another shape."""
    missing = [key for key in expected if key not in state]
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {tuple(shape)})"
        for key, shape in expected.items()
        if key in state and state[key].shape != shape
    ]
    if missing or wrong:
        problems = ([f"missing keys: {', '.join(missing)}"] if missing else []) + (
            [f"wrong shapes: {', '.join(wrong)}"] if wrong else []
        )
        raise CheckpointError(f"{path} does not hold the expected weights ({'; '.join(problems)})")


def load_alexnet_features(path: Path) -> nn.Sequential:
    """:func:`alexnet_features` with the ``features.*`` tensors of a torchvision-format AlexNet file."""
    features = alexnet_features()
    state = read_state_dict(path, "AlexNet weights for LPIPS")
    expected = {f"features.{name}": t.shape for name, t in features.state_dict().items()}
    _check_keys(state, expected, path)
    features.load_state_dict({name: state[f"features.{name}"] for name in features.state_dict()})
    return features


def load_lpips_heads(path: Path) -> nn.ModuleList:
    """The five 1x1 linear heads of LPIPS v0.1 (keys ``lin0.model.1.weight`` ... ``lin4``), no bias."""
    heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in LPIPS_CHANNELS)
    state = read_state_dict(path, "LPIPS linear-layer weights")
    expected = {f"lin{k}.model.1.weight": head.weight.shape for k, head in enumerate(heads)}
    _check_keys(state, expected, path)
    for k, head in enumerate(heads):
        head.weight.data.copy_(state[f"lin{k}.model.1.weight"])
    return heads


class LPIPS(nn.Module):
    """LPIPS v0.1 with AlexNet (Zhang et al., CVPR 2018), as the ``lpips`` package computes it.

    ``d(x, y) = sum_l mean_hw( w_l . (n_l(x) - n_l(y))^2 )`` where ``n_l`` are the
    relu1 ... relu5 AlexNet features of the scaled input ``(x - shift) / scale``,
    normalised to unit length over channels, and ``w_l`` the learned 1x1 heads.

    Args:
        alexnet_weights: torchvision's ``alexnet-owt-7be5be79.pth`` (or a
            ``.safetensors`` file with the same keys); None: the torch hub cache.
        linear_weights: the LPIPS v0.1 AlexNet heads (``alex.pth``; keys
            ``lin0.model.1.weight`` ... ``lin4.model.1.weight``); None:
            ``<hub>/checkpoints/lpips_alex_v0.1.pth``.

    Raises:
        CheckpointError: a file is missing (the message names it), unreadable, or has wrong keys.

    The network is frozen and in eval mode; it moves to the device of its input.
    """

    def __init__(
        self, alexnet_weights: str | Path | None = None, linear_weights: str | Path | None = None
    ) -> None:
        super().__init__()
        alex_path = locate_weights(alexnet_weights, ALEXNET_FILE, "AlexNet weights", ALEXNET_URL)
        lin_path = locate_weights(linear_weights, LPIPS_FILE, "LPIPS linear-layer weights", LPIPS_SOURCE)
        self.features = load_alexnet_features(alex_path)
        self.heads = load_lpips_heads(lin_path)
        self.requires_grad_(False)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """LPIPS is a fixed metric: it stays in eval mode."""
        return super().train(False)

    def taps(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised relu1 ... relu5 features of (B, 3, H, W) images in [-1, 1]."""
        x = (image - self.shift) / self.scale  # (B, 3, H, W) LPIPS scaling layer
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in ALEXNET_TAPS:
                norm = x.square().sum(dim=1, keepdim=True).sqrt()  # (B, 1, h, w)
                outputs.append(x / (norm + NORM_EPS))  # (B, C_l, h, w)
        return outputs

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, 3, H, W) RGB in [-1, 1], H, W >= 31. Returns: (B,) float32, >= 0."""
        _per_image(x, y, "LPIPS")
        channels, height, width = x.shape[1:]
        if channels != 3 or min(height, width) < LPIPS_MIN_SIZE:
            raise InputError(
                f"LPIPS: expected RGB images (B, 3, H, W) with H, W >= {LPIPS_MIN_SIZE}, got {tuple(x.shape)}"
            )
        if self.shift.device != x.device:
            self.to(x.device)
        batch = x.shape[0]
        distance = x.new_zeros(batch, dtype=torch.float32)
        for head, features in zip(self.heads, self.taps(torch.cat([x, y]).float()), strict=True):
            fx, fy = features[:batch], features[batch:]  # (B, C_l, h, w) each
            distance += head((fx - fy).square()).mean(dim=(1, 2, 3))  # (B,)
        return distance


def load_lpips(
    alexnet_weights: str | Path | None = None, linear_weights: str | Path | None = None
) -> tuple[LPIPS | None, str | None]:
    """LPIPS if its weights are at hand, else ``(None, reason)`` so evaluation can go on without it.

    Args:
        alexnet_weights, linear_weights: explicit files, or None for the torch hub cache
            (``<hub>/checkpoints/alexnet-owt-7be5be79.pth`` and ``lpips_alex_v0.1.pth``).

    Returns:
        ``(metric, None)``, or ``(None, reason)`` when a weights file left to the hub
        cache is not there; the reason names the file and where to put it.

    Raises:
        CheckpointError: an explicit path does not exist, or a file is unreadable or has wrong keys.
    """
    if alexnet_weights is not None:
        locate_weights(alexnet_weights, ALEXNET_FILE, "AlexNet weights", ALEXNET_URL)
    if linear_weights is not None:
        locate_weights(linear_weights, LPIPS_FILE, "LPIPS linear-layer weights", LPIPS_SOURCE)
    folder = hub_checkpoint_dir()
    absent = [
        f"{name} ({source})"
        for given, name, source in (
            (alexnet_weights, ALEXNET_FILE, ALEXNET_URL),
            (linear_weights, LPIPS_FILE, LPIPS_SOURCE),
        )
        if given is None and not (folder / name).is_file()
    ]
    if absent:
        return None, (
            f"LPIPS skipped: its weights are not in the torch hub cache folder {folder}: "
            f"{'; '.join(absent)}. corrwise never downloads: save the files there under these names, "
            "or pass their paths."
        )
    return LPIPS(alexnet_weights, linear_weights), None
