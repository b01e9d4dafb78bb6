"""``match``: weight-free global patch matching, then Lucas–Kanade refinement.

Coarse-to-fine flow methods (DIS included) start from zero motion at a coarse
scale, where a small object has vanished into the background, so they miss an
object that jumps further than its own size over a static scene — the
correspondence-wise loss's most important case. This estimator instead compares
every patch of A with *every* patch of B:

1. Both images are area-downsampled so the matching grid has at most
   ``max_positions`` cells (this caps time, O(N²), and memory).
2. Each cell is described by its ``patch`` x ``patch`` colour neighbourhood,
   normalised to zero mean and unit length (normalised cross-correlation).
3. All-pairs similarities, minus a small cost on displacement length, are
   computed in row chunks (memory bounded by ``chunk`` x N); one pass gives the
   best match in both directions.
4. A soft-argmax over the best match's neighbourhood gives a sub-cell,
   differentiable displacement; cells whose patch is flat get zero flow.
5. Cells whose match is not mutual (A → B → A lands more than 1.5 cells away)
   or whose patch is flat take the confidence-weighted mean of ever wider
   neighbourhoods; with no reliable neighbour at all they keep zero flow.
6. The flow is upsampled to full size and refined: a smoothed pyramid
   Lucas–Kanade estimate (right for camera motion) and the matched flow (right
   for small objects) are fused per pixel by local warping error, then polished
   by a few full-size Lucas–Kanade steps for sub-pixel precision.

Everything is batched torch code, runs on CPU and GPU, and is differentiable
with respect to both images (the argmax picks *where* to look; the soft-argmax
and the refinement carry the gradients).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from corrwise.errors import ConfigError
from corrwise.train.flow.base import FlowEstimator, check_image_pair
from corrwise.train.flow.warp import backward_warp, resize_flow

DAMPING = 1e-4  # Tikhonov term of the Lucas–Kanade solve ([-1, 1] intensity² per px²)
SMOOTH = 17  # box smoothing (px of each level) of the camera-motion hypothesis
POLISH = 7  # box smoothing (px) of the final full-size steps
FUSE_TEMPERATURE = 0.002  # softmin temperature on mean absolute warping error ([-1, 1] units)
FILL_SIZES = (3, 7, 15, 31)  # neighbourhoods (cells) that fill unreliable cells


class MatchFlow(FlowEstimator):
    """Global patch matching with local refinement; no learned weights.

    Args:
        max_positions: largest matching grid (cells); the images are downsampled
            by at least ``min_stride`` and until H*W/stride² <= max_positions.
            4096 cells cost about 1.3 GFLOP per image pair.
        min_stride: smallest downsampling factor of the matching grid (>= 1).
        patch: odd side of the compared patches, in matching cells.
        temperature: soft-argmax temperature on cosine similarity (lower = sharper).
        radius: half-side of the soft-argmax neighbourhood around the best match (cells).
        length_cost: similarity subtracted per image diagonal of displacement; breaks
            ties between repeated textures in favour of short motion.
        flat_threshold: patch standard deviation (in [-1, 1] units) below which a cell
            is flat and gets zero flow; flow reaches full strength at twice this value.
        refine_iters: Lucas–Kanade iterations per pyramid level (0 turns refinement off).
        refine_window: odd side (pixels) of the Lucas–Kanade aggregation window.
        chunk: query cells per correlation block; bounds memory to B x chunk x N floats.
    """

    name: ClassVar[str] = "match"
    differentiable: ClassVar[bool] = True

    def __init__(
        self,
        max_positions: int = 4096,
        min_stride: float = 2.0,
        patch: int = 5,
        temperature: float = 0.05,
        radius: int = 1,
        length_cost: float = 0.05,
        flat_threshold: float = 0.01,
        refine_iters: int = 3,
        refine_window: int = 7,
        chunk: int = 1024,
    ) -> None:
        super().__init__()
        if max_positions < 16 or chunk < 1 or min_stride < 1:
            raise ConfigError("max_positions must be >= 16, chunk >= 1 and min_stride >= 1")
        if patch < 1 or patch % 2 == 0 or refine_window < 3 or refine_window % 2 == 0:
            raise ConfigError(f"patch and refine_window must be odd, got {patch} and {refine_window}")
        if temperature <= 0 or radius < 1 or length_cost < 0 or flat_threshold < 0 or refine_iters < 0:
            raise ConfigError("temperature must be > 0, radius >= 1, and the other weights >= 0")
        self.max_positions = max_positions
        self.min_stride = float(min_stride)
        self.patch = patch
        self.temperature = temperature
        self.radius = radius
        self.length_cost = length_cost
        self.flat_threshold = flat_threshold
        self.refine_iters = refine_iters
        self.refine_window = refine_window
        self.chunk = chunk

    def estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._match(a, b, both=False)[0]

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow A → B, flow B → A) from one all-pairs pass; each (B, 2, H, W) in pixels."""
        check_image_pair(a, b)
        flow_ab, flow_ba = self._match(a, b, both=True)
        return flow_ab, flow_ba

    def matching_size(self, height: int, width: int) -> tuple[int, int]:
        """Matching-grid size (h, w) for an H x W image."""
        stride = max(self.min_stride, math.sqrt(height * width / self.max_positions))
        return max(1, round(height / stride)), max(1, round(width / stride))

    def _match(self, a: torch.Tensor, b: torch.Tensor, both: bool) -> list[torch.Tensor]:
        """Flow A → B, and B → A when ``both``; each (B, 2, H, W) float32 pixels."""
        a, b = a.float(), b.float()
        height, width = a.shape[2:]
        h, w = self.matching_size(height, width)
        feat_a, conf_a = self._features(F.interpolate(a, size=(h, w), mode="area"))  # (B, N, D), (B, N)
        feat_b, conf_b = self._features(F.interpolate(b, size=(h, w), mode="area"))
        cells = _cell_positions(h, w, a)  # (N, 2) x, y in cells
        best_ab, best_ba = self._best_matches(feat_a, feat_b, cells, math.hypot(h, w))
        stride = (height / h + width / w) / 2
        jobs = [(a, b, feat_a, feat_b, conf_a * _consistent(best_ab, best_ba, cells), best_ab)]
        if both:
            jobs.append((b, a, feat_b, feat_a, conf_b * _consistent(best_ba, best_ab, cells), best_ba))
        flows = []
        for src, dst, feat_src, feat_dst, conf, best in jobs:
            cells_flow = self._soft_argmax(feat_src, feat_dst, best, cells, (h, w))  # (B, N, 2)
            coarse = _fill(cells_flow.transpose(1, 2).reshape(-1, 2, h, w), conf.view(-1, 1, h, w))
            flows.append(self._refine(src, dst, resize_flow(coarse, (height, width)), stride))
        return flows

    def _features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length, zero-mean colour patches (B, N, D) and flatness confidence (B, N) in [0, 1]."""
        pad = self.patch // 2
        mode = "reflect" if min(image.shape[2:]) > pad else "replicate"
        padded = F.pad(image, (pad, pad, pad, pad), mode=mode)
        patches = F.unfold(padded, self.patch)  # (B, D, N)
        patches = patches - patches.mean(dim=1, keepdim=True)
        norm = patches.norm(dim=1)  # (B, N)
        std = norm / math.sqrt(patches.shape[1])
        if self.flat_threshold > 0:
            conf = (std / self.flat_threshold - 1).clamp(0, 1)
        else:
            conf = torch.ones_like(std)
        unit = patches / (norm.unsqueeze(1) + 1e-6)  # (B, D, N)
        return unit.transpose(1, 2), conf

    @torch.no_grad()
    def _best_matches(
        self, feat_a: torch.Tensor, feat_b: torch.Tensor, cells: torch.Tensor, diagonal: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Index (B, N) of the best cell of B for each cell of A, and of A for each cell of B."""
        batch, n, _ = feat_a.shape
        penalty = self.length_cost / diagonal
        best_ab = torch.empty(batch, n, dtype=torch.long, device=feat_a.device)
        col_score = torch.full((batch, n), -math.inf, device=feat_a.device)
        best_ba = torch.zeros(batch, n, dtype=torch.long, device=feat_a.device)
        feat_b_t = feat_b.transpose(1, 2)  # (B, D, N)
        for start in range(0, n, self.chunk):
            stop = min(start + self.chunk, n)
            block = torch.bmm(feat_a[:, start:stop], feat_b_t)  # (B, chunk, N)
            block -= penalty * torch.cdist(cells[start:stop], cells).unsqueeze(0)
            best_ab[:, start:stop] = block.argmax(dim=2)
            score, row = block.max(dim=1)  # (B, N)
            better = score > col_score
            col_score = torch.where(better, score, col_score)
            best_ba = torch.where(better, row + start, best_ba)
        return best_ab, best_ba

    def _soft_argmax(
        self,
        feat_src: torch.Tensor,
        feat_dst: torch.Tensor,
        best: torch.Tensor,
        cells: torch.Tensor,
        size: tuple[int, int],
    ) -> torch.Tensor:
        """Sub-cell displacement (B, N, 2), in cells, from a soft-argmax around each best match."""
        h, w = size
        r = self.radius
        steps = torch.arange(-r, r + 1, device=best.device)
        dy, dx = torch.meshgrid(steps, steps, indexing="ij")
        by, bx = (best // w).unsqueeze(-1), (best % w).unsqueeze(-1)  # (B, N, 1)
        ny, nx = by + dy.reshape(1, 1, -1), bx + dx.reshape(1, 1, -1)  # (B, N, K)
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        index = (ny.clamp(0, h - 1) * w + nx.clamp(0, w - 1)).flatten(1)  # (B, N*K)
        batch, n, dim = feat_dst.shape
        gathered = feat_dst.gather(1, index.unsqueeze(-1).expand(-1, -1, dim)).view(batch, n, -1, dim)
        sims = (gathered * feat_src.unsqueeze(2)).sum(-1)  # (B, N, K)
        target = cells[index].view(batch, n, -1, 2)  # (B, N, K, 2)
        length = (target - cells.view(1, n, 1, 2)).norm(dim=-1)
        sims = sims - self.length_cost / math.hypot(h, w) * length
        weights = torch.softmax(sims.masked_fill(~inside, -math.inf) / self.temperature, dim=-1)
        return (weights.unsqueeze(-1) * target).sum(2) - cells.unsqueeze(0)  # (B, N, 2)

    def _refine(
        self, src: torch.Tensor, dst: torch.Tensor, coarse: torch.Tensor, stride: float
    ) -> torch.Tensor:
        """Two hypotheses, fused per pixel by warping error, then polished at full size.

        ``smooth``: pyramid Lucas–Kanade from above the matching scale with strong
        smoothing — accurate for camera motion, but it blurs small moving objects
        away. ``coarse``: the matched flow itself — right on small objects. Each
        pixel takes the one that warps ``dst`` onto ``src`` better around it.
        """
        if self.refine_iters == 0:
            return coarse
        top = max(0, min(3, int(math.log2(max(stride, 1.0))) + 1))
        iters, window = self.refine_iters, self.refine_window
        smooth = _pyramid_lk(src, dst, coarse, list(range(top, -1, -1)), iters, window, SMOOTH)
        fused = _fuse(src, dst, (coarse, smooth), window)
        return _pyramid_lk(src, dst, fused, [0], iters, window, POLISH)


def _pyramid_lk(
    src: torch.Tensor,
    dst: torch.Tensor,
    flow: torch.Tensor,
    levels: list[int],
    iters: int,
    window: int,
    smooth: int,
) -> torch.Tensor:
    """Lucas–Kanade at each pyramid level (2**level downsampling), coarse to fine; flow (B, 2, H, W) px.

    After every step the flow is box-smoothed over ``smooth`` pixels of that level,
    a cheap stand-in for a smoothness prior that keeps weak-texture areas stable.
    """
    height, width = src.shape[2:]
    for level in levels:
        size = (max(1, height >> level), max(1, width >> level))
        src_l = F.interpolate(src, size=size, mode="area") if level else src
        dst_l = F.interpolate(dst, size=size, mode="area") if level else dst
        flow_l = resize_flow(flow, size)
        for _ in range(iters):
            flow_l = _box(flow_l + _lucas_kanade_step(src_l, dst_l, flow_l, window), smooth)
        flow = resize_flow(flow_l, (height, width))
    return flow


def _fuse(src: torch.Tensor, dst: torch.Tensor, flows: tuple[torch.Tensor, ...], window: int) -> torch.Tensor:
    """Per-pixel soft choice (B, 2, H, W) among candidate flows by local warping error."""
    errors = [(backward_warp(dst, f, "border") - src).abs().mean(1, keepdim=True) for f in flows]
    errors = _box(torch.cat(errors, dim=1), window)  # (B, K, H, W)
    weights = torch.softmax(-errors / FUSE_TEMPERATURE, dim=1)
    return sum(weights[:, k : k + 1] * f for k, f in enumerate(flows))


def _cell_positions(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(N, 2) float (x, y) coordinates of the matching cells, row-major."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device, dtype=torch.float32),
        torch.arange(w, device=like.device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack((xs.flatten(), ys.flatten()), dim=1)


def _lucas_kanade_step(src: torch.Tensor, dst: torch.Tensor, flow: torch.Tensor, window: int) -> torch.Tensor:
    """One Lucas–Kanade update (B, 2, H, W), pixels, that moves ``dst`` warped by ``flow`` onto ``src``.

    Gradients average both images (symmetric, robust to blur); a small Tikhonov
    term keeps the update near zero where there is no texture; steps are capped
    at 1 px so one bad window cannot throw the estimate far.
    """
    warped = backward_warp(dst, flow, padding_mode="border")  # (B, C, H, W)
    gx, gy = _gradients((warped + src) / 2)
    diff = warped - src
    pairs = ((gx, gx), (gy, gy), (gx, gy), (gx, diff), (gy, diff))
    products = torch.cat([(p * q).sum(1, keepdim=True) for p, q in pairs], dim=1)  # (B, 5, H, W)
    sxx, syy, sxy, bx, by = _box(products, window).split(1, dim=1)  # each (B, 1, H, W)
    sxx, syy = sxx + DAMPING, syy + DAMPING
    det = sxx * syy - sxy * sxy
    du = -(syy * bx - sxy * by) / det
    dv = -(sxx * by - sxy * bx) / det
    return torch.cat((du, dv), dim=1).clamp(-1.0, 1.0)  # (B, 2, H, W)


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central-difference gradients (B, C, H, W) per pixel, replicate-padded."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    gx = (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]) / 2
    gy = (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]) / 2
    return gx, gy


def _consistent(best_ab: torch.Tensor, best_ba: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """(B, N) 1.0 where A's best match in B maps back to within 1.5 cells of where it started, else 0.0."""
    back = best_ba.gather(1, best_ab)  # (B, N) cell of A reached by going A -> B -> A
    return ((cells[back] - cells.unsqueeze(0)).norm(dim=-1) <= 1.5).float()


def _fill(flow: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Replace unreliable coarse flow (B, 2, h, w) by the confidence-weighted mean of ever wider
    neighbourhoods (normalised convolution); cells with no reliable neighbour at all keep zero flow."""
    flow = flow * conf
    for size in FILL_SIZES:
        pool = {"kernel_size": size, "stride": 1, "padding": size // 2, "count_include_pad": False}
        weight = F.avg_pool2d(conf, **pool)  # (B, 1, h, w)
        filled = F.avg_pool2d(flow * conf, **pool) / weight.clamp_min(1e-6)
        flow = conf * flow + (1 - conf) * filled
        conf = torch.maximum(conf, (weight / 0.1).clamp(0, 1))
    return flow


def _box(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over a size x size window, same shape as ``x`` (replicate-padded; running sums)."""
    pad = size // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    for dim in (-1, -2):
        sums = F.pad(x.cumsum(dim), (1, 0) if dim == -1 else (0, 0, 1, 0))
        length = sums.shape[dim]
        x = (sums.narrow(dim, size, length - size) - sums.narrow(dim, 0, length - size)) / size
    return x
