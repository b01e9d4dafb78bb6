"""The toy's flow: a static background plus one translating layer, checked both ways.

The scene is a fixed photo with one object moving over it, so its motion has
exactly two layers. This estimator fits that model instead of matching every
pixel freely (which lets a generator skip the background: a blurry or shifted
background is "explained" by small, noisy displacements and costs nothing):

1. **Search.** One translation per image pair, by exhaustive search on a
   ``coarse``-times downsampled copy and a refinement at full resolution: the
   shift ``t`` that most improves the per-pixel error over zero motion, summed
   over both directions (A shifted by ``t`` onto B and B by ``-t`` onto A),
   then to a quarter pixel (bilinear), so the layer is not blurred by rounding.
2. **Layer.** A pixel of A joins the moving layer where the shift explains it
   clearly better than zero motion (by ``margin``) and zero motion clearly fails
   (error above ``min_error``, so a blurry or noisy background never moves).
   A morphological closing of ``closing`` pixels fills the layer's inside, where
   a flat object matches itself at any shift (the aperture problem).
3. **Check.** Forward–backward consistency: a pixel keeps its flow only if the
   other direction's flow at its match brings it back within ``fb_tolerance``
   pixels; everywhere else the flow is zero, so what cannot be matched is
   compared as a pixel-wise loss would compare it, never dropped.

It is the right model for this scene (static camera, one moving object), not a
general optical-flow estimator; ``match``, ``dis`` and ``raft`` are those.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.flow.warp import backward_warp


class LayeredFlow(FlowEstimator):
    """Flow of a static background plus one translating layer; see the module docstring.

    Args:
        max_shift: largest horizontal translation searched, pixels (|t_x| <= max_shift).
        max_shift_y: largest vertical translation searched, pixels (0: horizontal only).
        window: odd side of the box over which per-pixel errors are averaged, pixels.
        margin: how much better than zero motion the shift must explain a pixel, mean
            absolute difference in [-1, 1] units.
        min_error: zero motion must miss a pixel by more than this (same units) for it to move.
        closing: odd side of the closing that fills the moving layer, pixels.
        fb_tolerance: forward–backward round trip allowed, pixels.
        coarse: downsampling factor of the exhaustive search.
        subpixel: the shift is refined to 1/subpixel of a pixel (bilinear); 1 keeps whole pixels.
    """

    name: ClassVar[str] = "layered"
    differentiable: ClassVar[bool] = False

    def __init__(self, max_shift: int, max_shift_y: int = 0, window: int = 3, margin: float = 0.01,
                 min_error: float = 0.1, closing: int = 15, fb_tolerance: float = 1.0,
                 coarse: int = 2, subpixel: int = 4) -> None:  # fmt: skip
        super().__init__()
        if max_shift < 1 or max_shift_y < 0 or coarse < 1:
            raise ConfigError(f"layered flow: max_shift >= 1, max_shift_y >= 0, coarse >= 1; got "
                              f"{max_shift}, {max_shift_y}, {coarse}")  # fmt: skip
        if window % 2 == 0 or closing % 2 == 0:
            raise ConfigError(f"layered flow: window and closing must be odd, got {window} and {closing}")
        self.max_shift, self.max_shift_y, self.coarse = max_shift, max_shift_y, coarse
        self.window, self.margin, self.min_error = window, margin, min_error
        self.closing, self.fb_tolerance, self.subpixel = closing, fb_tolerance, max(1, subpixel)

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.pair(a, b)[0]

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow A → B, flow B → A), each (B, 2, H, W) pixels: the layer's shift or 0."""
        check_image_pair(a, b)
        shifts = self.translations(a, b)
        flow_ab = self._layer(a, b, shifts)
        flow_ba = self._layer(b, a, [(-dx, -dy) for dx, dy in shifts])
        tolerance = self.fb_tolerance
        return _consistent(flow_ab, flow_ba, tolerance), _consistent(flow_ba, flow_ab, tolerance)

    def translations(self, a: torch.Tensor, b: torch.Tensor) -> list[tuple[float, float]]:
        """Per pair, the shift (dx, dy), pixels to 1/``subpixel``, that best explains B's content in A."""
        k = self.coarse
        small_a, small_b = (F.avg_pool2d(a, k), F.avg_pool2d(b, k)) if k > 1 else (a, b)
        reach_x, reach_y = max(1, self.max_shift // k), self.max_shift_y // k
        candidates = [(dx, dy) for dy in range(-reach_y, reach_y + 1) for dx in range(-reach_x, reach_x + 1)]
        coarse_best = [candidates[int(i)] for i in self._gains(small_a, small_b, candidates).argmax(1)]
        shifts = []
        for i, (cx, cy) in enumerate(coarse_best):
            a_i, b_i = a[i : i + 1], b[i : i + 1]
            near = [(cx * k + ex, cy * k + ey) for ey in range(-k + 1, k) for ex in range(-k + 1, k)]
            near = [(dx, dy) for dx, dy in near if abs(dx) <= self.max_shift and abs(dy) <= self.max_shift_y]
            bx, by = near[int(self._gains(a_i, b_i, near)[0].argmax())]
            steps = [s / self.subpixel for s in range(-self.subpixel // 2, self.subpixel // 2 + 1)]
            subpixel = [(bx + sx, by + (sy if self.max_shift_y else 0.0)) for sy in steps for sx in steps]
            subpixel = list(dict.fromkeys(subpixel))
            shifts.append(subpixel[int(self._gains(a_i, b_i, subpixel)[0].argmax())])
        return shifts

    def _gains(self, a: torch.Tensor, b: torch.Tensor, shifts: list[tuple[float, float]]) -> torch.Tensor:
        """(B, K): how much each of the K shifts lowers the error over zero motion, both directions summed."""
        still_ab, still_ba = self._error(a, b, 0, 0), self._error(b, a, 0, 0)  # once for every shift
        gains = []
        for dx, dy in shifts:
            better_ab = still_ab - self._error(a, b, dx, dy) - self.margin
            better_ba = still_ba - self._error(b, a, -dx, -dy) - self.margin
            gains.append(better_ab.clamp(min=0).sum((1, 2, 3)) + better_ba.clamp(min=0).sum((1, 2, 3)))
        return torch.stack(gains, 1)

    def _error(self, a: torch.Tensor, b: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
        """(B, 1, H, W) box-averaged |A(p) - B(p + (dx, dy))|, channel mean (bilinear between pixels)."""
        if float(dx).is_integer() and float(dy).is_integer():
            moved = _shift(b, int(dx), int(dy))
        else:
            flow = torch.tensor([dx, dy], dtype=b.dtype, device=b.device).view(1, 2, 1, 1)
            moved = backward_warp(b, flow.expand(b.shape[0], -1, *b.shape[-2:]), "border")
        diff = (a - moved).abs().mean(1, keepdim=True)
        return F.avg_pool2d(diff, self.window, stride=1, padding=self.window // 2, count_include_pad=False)

    def _layer(self, a: torch.Tensor, b: torch.Tensor, shifts: list[tuple[float, float]]) -> torch.Tensor:
        """(B, 2, H, W) flow A → B: each pair's shift on A's moving layer, 0 elsewhere."""
        flows = torch.zeros(a.shape[0], 2, *a.shape[-2:], dtype=a.dtype, device=a.device)
        pad = self.closing // 2
        for i, (dx, dy) in enumerate(shifts):
            a_i, b_i = a[i : i + 1], b[i : i + 1]
            still, moved = self._error(a_i, b_i, 0, 0), self._error(a_i, b_i, dx, dy)
            evidence = ((moved + self.margin < still) & (still > self.min_error)).to(a.dtype)
            dilated = F.max_pool2d(evidence, self.closing, stride=1, padding=pad)
            layer = -F.max_pool2d(-dilated, self.closing, stride=1, padding=pad)  # closing
            flows[i, 0], flows[i, 1] = dx * layer[0, 0], dy * layer[0, 0]
        return flows


def _shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``out[p] = x[p + (dx, dy)]`` for (B, C, H, W) ``x``, edges repeated."""
    if dx == 0 and dy == 0:
        return x
    pad = max(abs(dx), abs(dy))
    height, width = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    return padded[..., pad + dy : pad + dy + height, pad + dx : pad + dx + width]


def _consistent(flow: torch.Tensor, back: torch.Tensor, tolerance: float) -> torch.Tensor:
    """``flow`` (B, 2, H, W) zeroed where ``back`` at the match does not return within ``tolerance`` px."""
    round_trip = flow + backward_warp(back, flow, "border")
    return flow * (round_trip.norm(dim=1, keepdim=True) <= tolerance).to(flow.dtype)
