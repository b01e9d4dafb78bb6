"""Structural similarity: SSIM (Wang et al. 2004) and MS-SSIM (Wang et al. 2003).

Both take images (B, C, H, W) in [-1, 1] and return the mean over batch and
channels as a 0-d float tensor. They double as evaluation metrics, so they
follow the reference definitions exactly:

- Gaussian window, 11 taps, sigma 1.5, applied per channel (depthwise).
- Constants for a data range of 2: C1 = (0.01 * 2)^2, C2 = (0.03 * 2)^2.
- **Valid** filtering: only windows lying wholly inside the image are
  averaged, so borders carry no padding artefacts. This is what Wang's MATLAB
  code does (``filter2(..., 'valid')``) and equals scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=2)``, which crops (window - 1) / 2
  pixels at each border. An image must therefore be at least window x window.
- Population (biased) variances, as Wang's code.
- Statistics are computed in float32 at least, so fp16/bf16 inputs (autocast)
  give the same value as float32 ones; float64 stays float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError, InputError
from corrwise.train.flow.base import check_image_pair
from torch import nn

DATA_RANGE = 2.0  # images in [-1, 1]
C1 = (0.01 * DATA_RANGE) ** 2
C2 = (0.03 * DATA_RANGE) ** 2
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, finest scale first


def _check_window(window: int, sigma: float, what: str) -> None:
    """ConfigError unless ``window`` is an odd int >= 1 and ``sigma`` > 0."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ConfigError(f"{what}: window must be an odd int >= 1 (11 is standard), got {window!r}")
    if not sigma > 0:
        raise ConfigError(f"{what}: sigma must be > 0 (1.5 is standard), got {sigma!r}")


def _check_weights(weights: Sequence[float], what: str) -> tuple[float, ...]:
    """The MS-SSIM scale weights as a tuple; ConfigError unless non-empty and all >= 0."""
    values = tuple(float(w) for w in weights)
    if not values or any(not w >= 0 for w in values):
        raise ConfigError(
            f"{what}: weights must be a non-empty sequence of numbers >= 0 (one per scale, finest first), "
            f"got {tuple(weights)!r}; the standard five are {MS_SSIM_WEIGHTS}"
        )
    return values


def _working_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def gaussian_window(window: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Normalised 1-D Gaussian taps (window,), on ``like``'s device and dtype."""
    coords = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    taps = torch.exp(-(coords**2) / (2 * sigma**2))
    return (taps / taps.sum()).to(device=like.device, dtype=like.dtype)


def _blur_valid(maps: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable depthwise Gaussian, no padding: (N, K, H, W) -> (N, K, H - w + 1, W - w + 1)."""
    channels, size = maps.shape[1], taps.numel()
    maps = F.conv2d(maps, taps.view(1, 1, size, 1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(maps, taps.view(1, 1, 1, size).repeat(channels, 1, 1, 1), groups=channels)


def _ssim_and_cs(x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per image and channel, each (B, C)."""
    channels = x.shape[1]
    stats = _blur_valid(torch.cat((x, y, x * x, y * y, x * y), dim=1), taps)  # (B, 5C, H', W')
    mu_x, mu_y, xx, yy, xy = stats.split(channels, dim=1)  # each (B, C, H', W')
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    cs_map = (2 * cov + C2) / (var_x + var_y + C2)
    luminance = (2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1)
    return (luminance * cs_map).mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def _downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve H and W by 2x2 averaging, rounding odd sizes up (Wang's MATLAB: symmetric pad at the end)."""
    height, width = x.shape[2:]
    if height % 2 or width % 2:
        x = F.pad(x, (0, width % 2, 0, height % 2), mode="replicate")
    return F.avg_pool2d(x, kernel_size=2)  # (B, C, ceil(H / 2), ceil(W / 2))


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two images.

    Args:
        x, y: (B, C, H, W) in [-1, 1], same shape, H and W >= ``window``.
        window: odd Gaussian window size in pixels.
        sigma: Gaussian standard deviation in pixels.

    Returns:
        0-d tensor in [-1, 1] (1 for identical images): the mean over batch,
        channels and valid window positions. float32 (float64 for float64 inputs).
    """
    check_image_pair(x, y, "ssim")
    _check_window(window, sigma, "ssim")
    height, width = x.shape[2:]
    if min(height, width) < window:
        raise InputError(
            f"ssim: images must be at least {window}x{window} for a {window}-pixel window, "
            f"got {height}x{width}; pass a smaller odd window or larger images"
        )
    dtype = _working_dtype(x)
    x, y = x.to(dtype), y.to(dtype)
    return _ssim_and_cs(x, y, gaussian_window(window, sigma, x))[0].mean()


def ms_ssim_min_size(levels: int, window: int = 11) -> int:
    """Smallest H and W that leave a ``window``-pixel image at the coarsest of ``levels`` scales."""
    return (window - 1) * 2 ** (levels - 1) + 1


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    window: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Mean multi-scale SSIM (Wang, Simoncelli and Bovik 2003).

    At each of ``len(weights)`` scales (finest first) the contrast-structure
    term ``cs`` is taken, then both images are halved by 2x2 averaging; the
    coarsest scale contributes the full SSIM. Per image and channel,
    ``MS-SSIM = prod_j relu(cs_j)^w_j * relu(ssim_last)^w_last`` (relu keeps
    fractional powers of negative values from giving NaN), then the mean over
    batch and channels. With one weight it equals :func:`ssim`.

    Args:
        x, y: (B, C, H, W) in [-1, 1], same shape; H and W at least
            ``ms_ssim_min_size(len(weights), window)`` (161 for the standard 5 scales).
        weights: exponent per scale, finest first; default Wang's five.
        window, sigma: the Gaussian window, as in :func:`ssim`.

    Returns:
        0-d tensor in [0, 1] (1 for identical images); float32 (float64 for float64 inputs).
    """
    check_image_pair(x, y, "ms_ssim")
    _check_window(window, sigma, "ms_ssim")
    exponents = _check_weights(weights, "ms_ssim")
    levels, (height, width) = len(exponents), x.shape[2:]
    if min(height, width) < ms_ssim_min_size(levels, window):
        raise InputError(
            f"ms_ssim: {levels} scales with a {window}-pixel window need H and W >= "
            f"{ms_ssim_min_size(levels, window)}, got {height}x{width}; use ssim, fewer weights "
            "(scales) or larger images"
        )
    dtype = _working_dtype(x)
    x, y = x.to(dtype), y.to(dtype)
    taps = gaussian_window(window, sigma, x)
    terms = []
    for _ in range(levels - 1):
        terms.append(_ssim_and_cs(x, y, taps)[1])  # (B, C)
        x, y = _downsample(x), _downsample(y)
    terms.append(_ssim_and_cs(x, y, taps)[0])
    stacked = torch.relu(torch.stack(terms))  # (levels, B, C)
    powers = torch.tensor(exponents, device=x.device, dtype=dtype).view(-1, 1, 1)
    return torch.prod(stacked**powers, dim=0).mean()


class SSIMLoss(nn.Module):
    """``1 - ssim(x, y)``: 0 for identical images, at most 2.

    Args:
        window, sigma: the Gaussian window of :func:`ssim`.
    """

    def __init__(self, window: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        _check_window(window, sigma, "SSIMLoss")
        self.window, self.sigma = window, float(sigma)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1], H, W >= window. Returns: 0-d tensor."""
        return 1 - ssim(x, y, self.window, self.sigma)

    def extra_repr(self) -> str:
        return f"window={self.window}, sigma={self.sigma}"


class MSSSIMLoss(nn.Module):
    """``1 - ms_ssim(x, y)``: 0 for identical images, at most 1.

    Args:
        weights: exponent per scale, finest first (default Wang's five, which
            need H, W >= 161).
        window, sigma: the Gaussian window of :func:`ssim`.
    """

    def __init__(
        self, weights: Sequence[float] = MS_SSIM_WEIGHTS, window: int = 11, sigma: float = 1.5
    ) -> None:
        super().__init__()
        _check_window(window, sigma, "MSSSIMLoss")
        self.weights = _check_weights(weights, "MSSSIMLoss")
        self.window, self.sigma = window, float(sigma)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y: (B, C, H, W) in [-1, 1], H, W >= ms_ssim_min_size. Returns: 0-d tensor."""
        return 1 - ms_ssim(x, y, self.weights, self.window, self.sigma)

    def extra_repr(self) -> str:
        return f"weights={self.weights}, window={self.window}, sigma={self.sigma}"
