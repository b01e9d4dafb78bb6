"""Backward warping and bilinear resampling, in pixel units.

Conventions shared by every function here:

* flow is in pixels of the tensor it is applied to, (B, 2, H, W) float32,
  channel 0 the x (width) displacement, channel 1 the y (height) one;
* ``warp(image, flow)[..., y, x] = image[..., y + flow_y, x + flow_x]``
  (backward warping: each output pixel reads from where its flow points);
* sampling is bilinear with ``align_corners=False`` (pixel centres at
  ``(i + 0.5) / size`` of the extent, which makes a normalised coordinate mean
  the same place at every resolution) and ``padding_mode="border"`` (reads
  beyond the frame repeat its edge).

The sampling grid is built from ``torch.arange`` over the tensor's own height
and width, not ``linspace`` over constants, so an ONNX export keeps H and W
dynamic (Range -> GatherElements).

:func:`warp` has three formulations of the same bilinear sampler: eager
PyTorch runs ``grid_sample`` (its fastest kernel, forward and backward); ONNX
graphs get one ``DeformConv`` per warp (a 1x1 depthwise deformable convolution
with unit weights samples each channel at pixel + offset), with the offsets
clamped to the frame, which is ``grid_sample``'s border padding; other traced
graphs (``.pt2``, ONNX below opset 19 or in float16) get :func:`gather_warp`,
four ``GatherElements`` reads at integer pixel indices weighted by the
fractional flow. On 2 x86 cores ONNX Runtime ran one 3x256x448 warp in
3.0 ms as ``GridSample`` (a generic kernel), 1.9 ms as gathers and 0.7 ms as
``DeformConv``; a 24x184x320 one in 5.5 ms as gathers and 0.9 ms as
``DeformConv``. The exporter picks the form with :func:`export_form`. The
gather form never adds a flow to a pixel coordinate in floating point, so it
stays exact when the graph is converted to float16 (where coordinates above
1024 have no fractional bits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError

EXPORT_FORMS = ("gather", "deform")  # how traced graphs warp; see export_form
_export = {"form": "gather"}


@contextlib.contextmanager
def export_form(form: str) -> Iterator[None]:
    """Within the block, graphs traced for export warp as ``form``: ``"gather"`` or ``"deform"``.

    ``"deform"`` puts the custom op :func:`deform_warp` in the graph, which only
    the ONNX exporter translates (to ``DeformConv``, opset >= 19); everything
    else traced (``.pt2``) keeps the default, ``"gather"``.
    """
    if form not in EXPORT_FORMS:
        raise ConfigError(f"warp export form must be one of {EXPORT_FORMS}, got {form!r}")
    before = _export["form"]
    _export["form"] = form
    try:
        yield
    finally:
        _export["form"] = before


def base_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Normalised pixel-centre coordinates of an H x W image, (1, H, W, 2) in (-1, 1), x then y.

    ``like`` supplies the dtype and device.
    """
    xs = (torch.arange(width, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / width - 1.0  # (W,)
    ys = (torch.arange(height, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / height - 1.0  # (H,)
    gx = xs.view(1, 1, width, 1).expand(1, height, width, 1)  # (1, H, W, 1)
    gy = ys.view(1, height, 1, 1).expand(1, height, width, 1)  # (1, H, W, 1)
    return torch.cat([gx, gy], dim=3)  # (1, H, W, 2)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` (B, C, H, W) by ``flow`` (B, 2, H, W) in pixels; returns (B, C, H, W).

    Bilinear, ``align_corners=False``, border padding (see the module docstring).
    """
    if torch.compiler.is_exporting():
        if _export["form"] == "deform":
            return deform_warp(image, border_offsets(flow))
        return gather_warp(image, flow)
    h, w = image.shape[-2], image.shape[-1]
    offset = torch.cat([flow[:, :1] * (2.0 / w), flow[:, 1:] * (2.0 / h)], dim=1)  # (B, 2, H, W) normalised
    offset = offset.permute(0, 2, 3, 1)  # (B, H, W, 2)
    grid = base_grid(h, w, image) + offset  # (B, H, W, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.library.custom_op("corrwise::deform_warp", mutates_args=())
def deform_warp(image: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``image`` (B, C, H, W) sampled bilinearly at pixel + ``offsets`` (B, 2, H, W), (dy, dx) in pixels.

    Offsets must keep every sample point inside the frame (see
    :func:`border_offsets`). A graph op: the ONNX exporter writes it as one
    ``DeformConv`` (1x1 kernel, one group per channel, unit weights); run
    directly it is :func:`warp`.
    """
    return warp(image, torch.cat([offsets[:, 1:], offsets[:, :1]], dim=1))


@deform_warp.register_fake
def _deform_warp_shape(image: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(image)


def border_offsets(flow: torch.Tensor) -> torch.Tensor:
    """Flow (B, 2, H, W) in pixels, (x, y) -> sampling offsets (B, 2, H, W), (dy, dx), clamped to the frame.

    Clamping the sample point to [0, W - 1] x [0, H - 1] is border padding for
    bilinear sampling; the bounds are whole numbers, so offsets inside them
    pass unchanged.
    """
    h, w = flow.shape[-2], flow.shape[-1]
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, 1, w)
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, 1, h, 1)
    dx = torch.maximum(torch.minimum(flow[:, :1], (w - 1) - xs), -xs)
    dy = torch.maximum(torch.minimum(flow[:, 1:], (h - 1) - ys), -ys)
    return torch.cat([dy, dx], dim=1)


def gather_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """:func:`warp` by gathering the four neighbours of each sample point; the same result.

    ``image`` (B, C, H, W) and ``flow`` (B, 2, H, W) in pixels; returns (B, C, H, W).
    Sample point (x + fx, y + fy) splits into integer pixel indices (x plus
    floor of the flow) and fractional weights (flow minus its floor); indices
    are clamped to the frame, which for bilinear sampling is the same as
    ``grid_sample``'s border padding.
    """
    b, c, h, w = image.shape
    whole = torch.floor(flow)  # (B, 2, H, W)
    frac = flow - whole  # (B, 2, H, W) in [0, 1)
    step = whole.to(torch.int64)
    xs = torch.arange(w, device=image.device).view(1, 1, w) + step[:, 0]  # (B, H, W) column of the left pair
    ys = torch.arange(h, device=image.device).view(1, h, 1) + step[:, 1]  # (B, H, W) row of the top pair
    x0, x1 = xs.clamp(0, w - 1), (xs + 1).clamp(0, w - 1)
    y0, y1 = ys.clamp(0, h - 1) * w, (ys + 1).clamp(0, h - 1) * w
    flat = image.reshape(b, c, h * w)

    def read(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        index = (rows + cols).reshape(b, 1, h * w).expand(b, c, h * w)
        return torch.gather(flat, 2, index).reshape(b, c, h, w)  # (B, C, H, W)

    ax, ay = frac[:, :1], frac[:, 1:]  # (B, 1, H, W)
    top_left, top_right, bottom_left, bottom_right = read(y0, x0), read(y0, x1), read(y1, x0), read(y1, x1)
    top = top_left + ax * (top_right - top_left)
    bottom = bottom_left + ax * (bottom_right - bottom_left)
    return top + ay * (bottom - top)


def resample(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to (B, C, height, width), ``align_corners=False``, edges clamped.

    The same sampler as :func:`warp` with zero flow at the target size (half-pixel
    centres, edges clamped), written as ``interpolate``, which exports as a
    linear ``Resize`` that ONNX Runtime runs fast; values are resampled, not
    rescaled (to upsample a flow, multiply it by the size ratio too).
    """
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
